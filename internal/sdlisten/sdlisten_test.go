package sdlisten

import (
	"os"
	"strconv"
	"testing"
)

// Without LISTEN_PID naming this process nothing is taken: the variables
// may be inherited from a parent that was activated itself.
func TestListenersNotOurs(t *testing.T) {
	for _, env := range []map[string]string{
		{},
		{"LISTEN_FDS": "1"},
		{"LISTEN_FDS": "1", "LISTEN_PID": strconv.Itoa(os.Getpid() + 1)},
	} {
		lns, err := Listeners(func(k string) string { return env[k] }, os.Getpid())
		if err != nil || len(lns) != 0 {
			t.Errorf("%v: %v %v", env, lns, err)
		}
	}
}

func TestListenersBadCount(t *testing.T) {
	env := map[string]string{"LISTEN_PID": strconv.Itoa(os.Getpid()), "LISTEN_FDS": "many"}
	if _, err := Listeners(func(k string) string { return env[k] }, os.Getpid()); err == nil {
		t.Error("LISTEN_FDS=many accepted")
	}
}
