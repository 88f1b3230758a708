package config

import "testing"

func TestControlsValidate(t *testing.T) {
	if err := (Controls{"brightness": 128, "Auto Exposure": 1, "0x980900": 3}).validate(); err != nil {
		t.Fatalf("valid names refused: %v", err)
	}
	err := (Controls{"brightness": 1, "--": 2}).validate()
	if err == nil || err.Error() != `controls: "--" names no control (use the name camrec lists under GET /api/v1/cameras/{cam}/controls, e.g. brightness)` {
		t.Fatalf("err %v", err)
	}
}
