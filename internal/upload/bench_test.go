package upload

import (
	"context"
	"testing"
	"time"

	"github.com/camrec/camrec/internal/testutil"
	"github.com/camrec/camrec/pipeline/store"
)

// BenchmarkUpload measures the upload throughput to a local SeaweedFS
// (loopback): read for the local ETag, PUT, verify, sidecar, mark — what
// one finished recording costs. Sizes: 8 MiB (one PUT) and 48 MiB (three
// 16 MiB parts). Run: make bench-upload.
func BenchmarkUpload(b *testing.B) {
	s := testutil.StartS3(b)
	for _, bc := range []struct {
		name string
		size int
	}{{"8MiB-single", 8 << 20}, {"48MiB-multipart", 48 << 20}} {
		b.Run(bc.name, func(b *testing.B) {
			cat := store.NewCatalog(b.TempDir(), "", testutil.Logger(b))
			u, err := New(Config{Targets: map[string]Target{"cam0": target(s)}, Catalog: cat})
			if err != nil {
				b.Fatal(err)
			}
			c := u.byName["cam0"]
			start := time.Now().Add(-time.Hour)
			var ids []store.Pending
			for i := range b.N {
				addRecording(b, cat, "cam0", start.Add(time.Duration(i)*time.Second), bc.size)
			}
			ids = cat.PendingUploads("cam0")
			b.SetBytes(int64(bc.size))
			b.ResetTimer()
			for i := range b.N {
				if err := u.upload(context.Background(), c, ids[i]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
