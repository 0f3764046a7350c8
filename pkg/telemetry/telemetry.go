// Package telemetry gives every contactsync process the same logger (zap,
// level from LOG_LEVEL, JSON on stderr) and the same /metrics and /healthz
// HTTP endpoint (METRICS_ADDR).
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/contactsync/contactsync/pkg/salesforce"
)

// NewLogger returns a JSON logger on stderr at level ("debug", "info",
// "warn", "error"; "" = info).
func NewLogger(level string) (*zap.Logger, error) {
	return NewLoggerTo(level, os.Stderr)
}

// NewLoggerTo is NewLogger writing to w (a command's stderr), the one logger
// of every contactsync process: JSON lines, ISO 8601 times, no sampling.
func NewLoggerTo(level string, w io.Writer) (*zap.Logger, error) {
	if level == "" {
		level = "info"
	}
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", level)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(w)), lvl)
	return zap.New(core, zap.AddCaller(), zap.ErrorOutput(zapcore.Lock(zapcore.AddSync(w)))), nil
}

// NewRegistry returns a registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Serve runs /metrics and /healthz on addr until ctx ends. ready reports
// readiness for /healthz (nil = always ready). An empty addr serves nothing.
func Serve(ctx context.Context, addr string, reg *prometheus.Registry, ready func() error, log *zap.Logger) error {
	if addr == "" {
		<-ctx.Done()
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if ready != nil {
			if err := ready(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("METRICS_ADDR=%s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Info("serving metrics", zap.String("addr", ln.Addr().String()))
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// emailPattern matches an address, malformed ones too ("a@@b.example",
// "a@"), since those are what error messages quote.
var emailPattern = regexp.MustCompile(`([^\s@:;,"<>()\[\]])[^\s@:;,"<>()\[\]]*@+([^\s@:;,"<>()\[\]]*)`)

// MaskEmails hides the local part of every email address in s
// ("jane.doe@example.com" → "j***@example.com"), for messages logged at info
// level or above (Salesforce's errors quote the values they refuse).
func MaskEmails(s string) string {
	return emailPattern.ReplaceAllString(s, "$1***@$2")
}

// SalesforceClient is what RegisterSalesforce reads from pkg/salesforce's Client.
type SalesforceClient interface {
	APICalls() int64
	Usage() salesforce.Usage
}

// RegisterSalesforce exports a client's API calls
// (contactsync_sf_api_calls_total) and the org's daily allocation in use, as
// last reported by Sforce-Limit-Info (contactsync_sf_api_usage_ratio).
func RegisterSalesforce(reg prometheus.Registerer, sf SalesforceClient) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "contactsync_sf_api_calls_total", Help: "Salesforce REST calls made by this process.",
		}, func() float64 { return float64(sf.APICalls()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "contactsync_sf_api_usage_ratio", Help: "Share of the org's daily API allocation in use (Sforce-Limit-Info).",
		}, func() float64 {
			u := sf.Usage()
			if !u.Seen || u.Max <= 0 {
				return 0
			}
			return float64(u.Used) / float64(u.Max)
		}),
	)
}
