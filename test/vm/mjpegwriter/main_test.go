package main

import (
	"io"
	"testing"
)

func TestParseCommand(t *testing.T) {
	cases := []struct {
		line    string
		want    command
		wantErr bool
	}{
		{line: "pause", want: command{verb: "pause"}},
		{line: " resume ", want: command{verb: "resume"}},
		{line: "stop", want: command{verb: "stop"}},
		{line: "fps 7.5", want: command{verb: "fps", fps: 7.5}},
		{line: "fps 0", wantErr: true},
		{line: "fps NaN", wantErr: true},
		{line: "fps", wantErr: true},
		{line: "faster", wantErr: true},
		{line: "", wantErr: true},
	}
	for _, tc := range cases {
		got, err := parseCommand(tc.line)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseCommand(%q) = %+v, %v; want %+v, error %v", tc.line, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseFlags(t *testing.T) {
	cases := []struct {
		args    []string
		wantErr bool
	}{
		{args: nil},
		{args: []string{"-size", "1280x720", "-fps", "30", "-frames", "10"}},
		{args: []string{"-size", "640"}, wantErr: true},
		{args: []string{"-size", "0x480"}, wantErr: true},
		{args: []string{"-fps", "0"}, wantErr: true},
		{args: []string{"-distinct", "0"}, wantErr: true},
	}
	for _, tc := range cases {
		_, err := parseFlags(tc.args, io.Discard)
		if (err != nil) != tc.wantErr {
			t.Errorf("parseFlags(%q): error %v, want error %v", tc.args, err, tc.wantErr)
		}
	}
}
