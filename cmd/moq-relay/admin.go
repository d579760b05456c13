package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// startAdmin serves the operator's endpoints on bind ([metrics] bind), a
// plain-HTTP listener apart from the public port and without
// authentication: GET /metrics (Prometheus text from reg) and POST /drain,
// which answers 202 and calls drain the first time (later calls only
// answer). drain must not block: it starts the drain. With drain nil,
// POST /drain answers 501. An empty bind serves nothing. stop closes the
// listener and waits for its goroutine.
//
// With profiles set, the listener also serves net/http/pprof's
// /debug/pprof/ endpoints ([metrics] pprof).
func startAdmin(bind string, reg *prometheus.Registry, drain func(), profiles bool, log *zap.Logger) (stop func(), err error) {
	if bind == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	h := adminHandler(reg, drain, log)
	if profiles {
		h = withProfiles(h)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          zap.NewStdLog(log),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", zap.Error(err))
		}
	}()
	log.Info("metrics listening", zap.Stringer("addr", ln.Addr()))
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
		<-done
	}, nil
}

// adminHandler routes the admin endpoints; other methods on them get 405.
func adminHandler(reg *prometheus.Registry, drain func(), log *zap.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            zap.NewStdLog(log),
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	var once sync.Once
	mux.HandleFunc("POST /drain", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if drain == nil {
			w.WriteHeader(http.StatusNotImplemented)
			_, _ = w.Write([]byte(`{"status":"drain not available"}` + "\n"))
			return
		}
		once.Do(func() {
			log.Info("drain requested on the admin endpoint")
			drain()
		})
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"status":"draining"}` + "\n"))
	})
	return mux
}

// withProfiles serves Go's runtime profiles under /debug/pprof/ next to h.
// A CPU profile runs for ?seconds=N, which must stay under the server's
// WriteTimeout (30 s).
func withProfiles(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", h)
	return mux
}
