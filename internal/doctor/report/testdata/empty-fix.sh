# gatehouse doctor --fix: commands that fix the findings. Nothing has been changed;
# --fix --apply runs only the go env -w ones.
# no findings
