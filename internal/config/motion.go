package config

import (
	"flag"
	"fmt"

	"github.com/camrec/camrec/internal/motion"
)

// motionFlags registers the motion flag (detection on every camera, with
// the defaults) and returns what applies it to a camera.
func motionFlags(fs *flag.FlagSet) func(m *motion.Config, set map[string]bool) {
	on := fs.Bool("motion", false, "detect motion on every camera (motion: in the config file sets the details)")
	return func(m *motion.Config, set map[string]bool) {
		if set["motion"] {
			m.Enabled = *on
		}
	}
}

// validateMotion checks a camera's motion section; errors name the key
// under motion:.
func validateMotion(m motion.Config) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("motion: %w", err)
	}
	return nil
}
