// Command serve serves the watch and publish pages of examples/web (and the
// harness page) over plain HTTP, for a browser on the same machine:
//
//	go run ./examples/web/serve                 # http://127.0.0.1:8080/watch.html
//	go run ./examples/web/serve --bind 127.0.0.1:9000 --dir examples/web
//
// The pages need the bundles (make web). A page served from http://127.0.0.1
// or http://localhost is a secure context, so the browser allows WebTransport;
// from any other http:// origin it does not, so the default bind is loopback.
// Only the pages, dist/*.js and src/app.css are served; nothing is cached.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	bind := flag.String("bind", "127.0.0.1:8080", "address to listen on (TCP)")
	dir := flag.String("dir", "", "the examples/web directory (default: examples/web if it exists here, else .)")
	flag.Parse()
	if err := run(*bind, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
}

func run(bind, dir string) error {
	if dir == "" {
		dir = "."
		if st, err := os.Stat(filepath.Join("examples", "web", "watch.html")); err == nil && !st.IsDir() {
			dir = filepath.Join("examples", "web")
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "watch.html")); err != nil {
		return fmt.Errorf("%s is not the examples/web directory (set --dir): %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "dist", "watch.js")); err != nil {
		fmt.Fprintf(os.Stderr, "serve: warning: %s is missing; run make web\n", filepath.Join(dir, "dist", "watch.js"))
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: handler(dir), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Printf("serving %s on http://%s/ (watch.html, publish.html)\n", dir, ln.Addr())
	select {
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// served reports whether a cleaned URL path is one of the files the pages need.
func served(p string) bool {
	switch p {
	case "/watch.html", "/publish.html", "/index.html", "/src/app.css":
		return true
	}
	return path.Dir(p) == "/dist" && strings.HasSuffix(p, ".js")
}

func handler(dir string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := path.Clean("/" + r.URL.Path)
		if p == "/" {
			http.Redirect(w, r, "/watch.html", http.StatusFound)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if !served(p) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		r.URL.Path = p
		files.ServeHTTP(w, r)
	})
}
