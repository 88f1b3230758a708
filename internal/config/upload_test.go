package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestUploadCredentialsAndCameras(t *testing.T) {
	ak := writeFile(t, "ak", "AKID\n", 0o600)
	sk := writeFile(t, "sk", "s3cr3t\n", 0o600)
	yaml := "upload:\n  endpoint: http://127.0.0.1:8333\n  bucket: cams\n  prefix: home/\n  access_key_file: " + ak +
		"\n  secret_key_file: " + sk + "\n  delete_local_after: 24h\n" +
		"cameras:\n  - name: a\n  - name: b\n    device: file:/x\n    upload:\n      disabled: true\n" +
		"  - name: c\n    device: file:/y\n    upload:\n      endpoint: https://s3.example.com\n      bucket: other\n"
	env := func(k string) string {
		return map[string]string{EnvAWSAccessKey: "envkey", EnvS3SecretKey: "envsecret", EnvAWSSecretKey: "unused"}[k]
	}
	cfg, err := Load([]string{"-config", writeFile(t, "c.yaml", yaml, 0o644)}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := cfg.Cameras[0].Upload, cfg.Cameras[1].Upload, cfg.Cameras[2].Upload
	if a == nil || a.AccessKey != "AKID" || a.SecretKey != "s3cr3t" || a.Prefix != "home/" || time.Duration(a.DeleteLocalAfter) != 24*time.Hour {
		t.Errorf("camera a: %+v", a)
	}
	if b != nil {
		t.Errorf("camera b: upload disabled, got %+v", b)
	}
	if c == nil || c.Bucket != "other" || c.AccessKey != "envkey" || c.SecretKey != "envsecret" {
		t.Errorf("camera c: %+v", c)
	}
}

func TestUploadRejects(t *testing.T) {
	open := writeFile(t, "open", "s3cr3t\n", 0o644)
	for _, tc := range []struct{ name, yaml, want string }{
		{"no bucket", "upload:\n  endpoint: http://h:8333\n", "upload.bucket: must be set"},
		{"scheme", "upload:\n  endpoint: ftp://h\n  bucket: cams\n", "scheme must be http or https"},
		{"creds in URL", "upload:\n  endpoint: http://k:s@h\n  bucket: cams\n", "no credentials in the URL"},
		{"no credentials", "upload:\n  endpoint: http://h\n  bucket: cams\n", "upload: no access_key: set access_key_file"},
		{"readable secret", "upload:\n  endpoint: http://h\n  bucket: cams\n  access_key_file: " + open + "\n", "readable by other users"},
		{"global disabled", "upload:\n  disabled: true\n", "only in a camera's upload section"},
		{"camera", "cameras:\n  - name: a\n    upload:\n      endpoint: http://h\n", "camera a: upload.bucket: must be set"},
	} {
		_, err := Load([]string{"-config", writeFile(t, "c.yaml", tc.yaml, 0o600)}, noEnv, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: the error shows the secret: %v", tc.name, err)
		}
	}
}
