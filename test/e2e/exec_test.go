package e2e

import (
	"os/exec"
)

func execCamrec(args ...string) *exec.Cmd { return exec.Command(camrecBin, args...) }
