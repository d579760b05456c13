package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
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
func startAdmin(bind string, reg *prometheus.Registry, drain func(), log *zap.Logger) (stop func(), err error) {
	if bind == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	srv := &http.Server{
		Handler:           adminHandler(reg, drain, log),
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
