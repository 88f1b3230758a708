package config

import (
	"fmt"
	"sort"
	"strings"
)

// Controls are a V4L2 camera's control settings, applied each time the
// device is opened: control name (any case and spacing, "brightness",
// "Auto Exposure") or id ("0x980900") → value. In YAML:
//
//	controls: {brightness: 128, auto_exposure: 1}
//
// Ranges are checked against the device when it opens; a value it refuses
// is logged once and the others are still applied.
type Controls map[string]int64

// validate rejects names that cannot name a control.
func (c Controls) validate() error {
	names := make([]string, 0, len(c))
	for k := range c {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if strings.IndexFunc(k, func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' }) < 0 {
			return fmt.Errorf("controls: %q names no control (use the name camrec lists under GET /api/v1/cameras/{cam}/controls, e.g. brightness)", k)
		}
	}
	return nil
}
