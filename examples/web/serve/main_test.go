package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// The pages and bundles are served, nothing else in the directory is, and
// / leads to the watch page.
func TestHandler(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"watch.html", "publish.html", "dist/watch.js", "src/app.css", "package.json", "serve/main.go"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := handler(dir)
	for _, c := range []struct {
		path string
		want int
	}{
		{"/", http.StatusFound},
		{"/watch.html", http.StatusOK},
		{"/publish.html?url=http://127.0.0.1:4444/", http.StatusOK},
		{"/dist/watch.js", http.StatusOK},
		{"/src/app.css", http.StatusOK},
		{"/package.json", http.StatusNotFound},
		{"/serve/main.go", http.StatusNotFound},
		{"/dist/../package.json", http.StatusNotFound},
		{"/dist/missing.js", http.StatusNotFound},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.path, nil))
		if rec.Code != c.want {
			t.Errorf("GET %s: %d, want %d", c.path, rec.Code, c.want)
		}
		if c.want == http.StatusOK && rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: Cache-Control %q, want no-store", c.path, rec.Header().Get("Cache-Control"))
		}
	}
}
