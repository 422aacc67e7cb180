package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Prometheus names of barrel_p2p's auth instruments (auth.md §14):
// barrel_p2p.dist.auth.attempts and barrel_p2p.dist.auth.duration_ms, with
// the same attribute keys and values.
const (
	MetricAttempts = "barrel_p2p_dist_auth_attempts_total"
	MetricDuration = "barrel_p2p_dist_auth_duration_ms"
)

// Metrics records one attempt per exchange: role = outgoing|incoming,
// outcome = ok|fail (cookie-only successes count as ok; a disabled
// authenticator records nothing).
type Metrics struct {
	Attempts *prometheus.CounterVec
	Duration *prometheus.HistogramVec
}

// NewMetrics creates and registers the instruments on reg. A nil reg
// returns nil, which the authenticator treats as "no metrics". Registering
// twice on one registry (two authenticators) reuses the first collectors.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, nil
	}
	attempts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricAttempts,
		Help: "Ed25519 peer authentication exchanges (barrel_p2p.dist.auth.attempts).",
	}, []string{"role", "outcome"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    MetricDuration,
		Help:    "Duration of Ed25519 peer authentication exchanges in milliseconds (barrel_p2p.dist.auth.duration_ms).",
		Buckets: []float64{1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000},
	}, []string{"role", "outcome"})
	var err error
	if attempts, err = register(reg, attempts); err != nil {
		return nil, err
	}
	if duration, err = register(reg, duration); err != nil {
		return nil, err
	}
	return &Metrics{Attempts: attempts, Duration: duration}, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("auth: register metrics: %w", err)
	}
	return c, nil
}

func (m *Metrics) observe(role Role, ok bool, d time.Duration) {
	if m == nil {
		return
	}
	outcome := "fail"
	if ok {
		outcome = "ok"
	}
	r := role.metricName()
	m.Attempts.WithLabelValues(r, outcome).Inc()
	m.Duration.WithLabelValues(r, outcome).Observe(float64(d) / float64(time.Millisecond))
}
