package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// adminDo sends method path to the handler and returns the status and body.
func adminDo(t *testing.T, h http.Handler, method, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

// POST /drain answers 202 and calls the drain hook once, however often it
// is asked; other methods are refused.
func TestAdminDrainCallsTheHookOnce(t *testing.T) {
	var calls atomic.Int32
	h := adminHandler(prometheus.NewRegistry(), func() { calls.Add(1) }, zap.NewNop())
	for i := range 3 {
		if code, body := adminDo(t, h, http.MethodPost, "/drain"); code != http.StatusAccepted {
			t.Fatalf("POST /drain #%d: %d %q, want 202", i+1, code, body)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("drain hook called %d times after three POSTs, want 1", n)
	}
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		if code, _ := adminDo(t, h, m, "/drain"); code != http.StatusMethodNotAllowed {
			t.Errorf("%s /drain: %d, want 405", m, code)
		}
	}
	if code, _ := adminDo(t, h, http.MethodPost, "/metrics"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d, want 405", code)
	}
	if code, _ := adminDo(t, h, http.MethodGet, "/elsewhere"); code != http.StatusNotFound {
		t.Errorf("GET /elsewhere: %d, want 404", code)
	}
}

func TestAdminDrainWithoutHook(t *testing.T) {
	h := adminHandler(prometheus.NewRegistry(), nil, zap.NewNop())
	if code, body := adminDo(t, h, http.MethodPost, "/drain"); code != http.StatusNotImplemented {
		t.Errorf("POST /drain without a hook: %d %q, want 501", code, body)
	}
}

func TestAdminServesTheRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "moq_test_total", Help: "A test counter."})
	reg.MustRegister(c)
	c.Add(3)
	code, body := adminDo(t, adminHandler(reg, nil, zap.NewNop()), http.MethodGet, "/metrics")
	if code != http.StatusOK || !strings.Contains(body, "moq_test_total 3") {
		t.Errorf("GET /metrics: %d\n%s", code, body)
	}
}

func TestStartAdminOffWhenBindEmpty(t *testing.T) {
	stop, err := startAdmin("", prometheus.NewRegistry(), nil, false, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	stop()
}

// TestAdminProfilesOnlyWhenAsked: /debug/pprof/ is served with [metrics]
// pprof = true and not without; /metrics is served either way.
func TestAdminProfilesOnlyWhenAsked(t *testing.T) {
	plain := adminHandler(prometheus.NewRegistry(), nil, zap.NewNop())
	if code, _ := adminDo(t, plain, http.MethodGet, "/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ without pprof: %d, want 404", code)
	}
	prof := withProfiles(plain)
	code, body := adminDo(t, prof, http.MethodGet, "/debug/pprof/")
	if code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("GET /debug/pprof/ with pprof: %d\n%.200s", code, body)
	}
	if code, _ := adminDo(t, prof, http.MethodGet, "/metrics"); code != http.StatusOK {
		t.Errorf("GET /metrics with pprof: %d", code)
	}
}
