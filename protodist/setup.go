package protodist

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/barrelgo/barrelgo/discovery"
	"github.com/barrelgo/barrelgo/protodist/auth"
	"github.com/barrelgo/barrelgo/protodist/certs"
	"github.com/prometheus/client_golang/prometheus"
)

// NewFromConfig builds the transport a node needs to join a barrel_p2p
// cluster, as barrel_p2p boots one: it validates cfg, creates or loads the
// TLS certificate in quic_cert_dir and the Ed25519 identity in
// auth_key_dir, resolves peers through discovery_dir then DNS, and
// publishes the node's own .endpoint file once listening.
func NewFromConfig(cfg Config, nodeName string, tickTime time.Duration, logger *slog.Logger, reg prometheus.Registerer) (*Transport, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings() {
		logger.Warn(w)
	}
	creds, err := certs.Ensure(cfg.QUICCertDir, nodeName)
	if err != nil {
		return nil, err
	}
	a, err := cfg.NewAuthenticator(nodeName, logger, reg)
	if err != nil {
		return nil, err
	}
	port := cfg.ListenPort
	dnsPort := port
	if dnsPort == 0 {
		dnsPort = discovery.DefaultPort
	}
	files := discovery.File{Dir: cfg.DiscoveryDir}
	return NewTransport(TransportOptions{
		ListenAddr:    net.JoinHostPort(listenHost(cfg.Address), strconv.Itoa(port)),
		Certificate:   creds.Certificate,
		Authenticator: a,
		AuthTimeout:   cfg.AuthHandshakeTimeout,
		Resolver:      discovery.Chain{files, discovery.DNS{Port: dnsPort}},
		Publish:       &files,
		TickTime:      tickTime,
		Logger:        logger,
	})
}

func listenHost(a netip.Addr) string {
	if !a.IsValid() {
		return "0.0.0.0"
	}
	return a.String()
}

// isNoAuth reports whether a means "no auth streams at all".
func isNoAuth(a auth.Authenticator) bool {
	if a == nil {
		return true
	}
	switch a.(type) {
	case auth.Disabled, *auth.Disabled:
		return true
	}
	return false
}

var _ = fmt.Sprint
