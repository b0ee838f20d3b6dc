# gatehouse doctor --fix: the commands that fix the findings below.
# --fix alone changes nothing; --fix --apply runs only the go env -w ones.
# no findings
