package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/gatehouse-dev/gatehouse/internal/sdnotify"
)

// notifySystemd tells systemd (Type=notify, dist/systemd) that serve is
// ready, pings its watchdog while ctx lasts, and says STOPPING=1 when ctx
// ends (SIGTERM), so systemctl waits for the drain. Outside systemd
// NOTIFY_SOCKET is unset and it does nothing. Call it once the listener
// is open: connections from then on wait in its backlog.
func notifySystemd(ctx context.Context, env *cmdEnv, log *slog.Logger, addr string) {
	n := sdnotify.FromEnv(env.getenv)
	if !n.Enabled() {
		return
	}
	if err := n.Notify(sdnotify.Ready, "STATUS=serving on "+addr); err != nil {
		log.Warn("cannot notify systemd", "err", err)
		return
	}
	go n.RunWatchdog(ctx, sdnotify.WatchdogInterval(env.getenv, os.Getpid()), nil)
	go func() {
		<-ctx.Done()
		n.Notify(sdnotify.Stopping)
	}()
}
