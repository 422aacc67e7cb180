package interop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ergo-services/ergo"
	ergonode "github.com/ergo-services/ergo/node"
	ergodist "github.com/ergo-services/ergo/proto/dist"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/handshake"
	"github.com/barrelgo/barrelgo/internal/syncbuf"
)

// TestDistErgoPeer puts ergo v1.999.224 nodes (a second, independent Go
// implementation of Erlang distribution) on the cluster's EPMD. barrelgo
// refuses them, as OTP 26+ would, and must do so cleanly in both
// directions: the error says why, no connection is left behind, and the
// node keeps serving stock Erlang. Why, exactly:
//   - ergo never offers DFLAG_UNLINK_ID (nor MANDATORY_25_DIGEST), which
//     OTP 26+ and barrelgo by default require;
//   - ergo's default handshake is version 5: as initiator it opens with the
//     old 'n' name message, which OTP 25's acceptor (dist_util:recv_name)
//     already refuses and barrelgo refuses too. With version 6 ergo sends
//     'N' and the refusal is the missing flag.
func TestDistErgoPeer(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, logs), &slog.HandlerOptions{Level: slog.LevelWarn}))
	gn := c.startGoLog(fmt.Sprintf("go%d", rand.IntN(1e6)), log)

	for _, tc := range []struct {
		version ergonode.HandshakeVersion
		// refusal is what barrelgo's acceptor logs when ergo dials it.
		refusal string
	}{
		{ergodist.HandshakeVersion5, "old 'n' name message"},
		{ergodist.HandshakeVersion6, "lacks mandatory distribution flags UNLINK_ID"},
	} {
		t.Run(fmt.Sprintf("handshake v%d", tc.version), func(t *testing.T) {
			ergoName := fmt.Sprintf("ergo%d@127.0.0.1", rand.IntN(1e6))
			en, err := ergo.StartNode(ergoName, testCookie, ergonode.Options{
				Registrar: ergodist.CreateRegistrarWithRemoteEPMD("127.0.0.1", uint16(c.epmdPort)),
				Handshake: ergodist.CreateHandshake(ergodist.HandshakeOptions{Version: tc.version}),
				Listeners: []ergonode.Listener{{Hostname: "127.0.0.1", ListenBegin: 20000, ListenEnd: 60000}},
				System:    ergonode.System{DisableAnonMetrics: true},
			})
			if err != nil {
				t.Fatalf("start ergo node: %v", err)
			}
			t.Cleanup(func() {
				en.Stop()
				_ = en.WaitWithTimeout(10 * time.Second)
			})

			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			err = gn.Connect(ctx, etf.Atom(ergoName))
			var mf *handshake.MissingFlagsError
			if !errors.As(err, &mf) || mf.Missing&handshake.FlagUnlinkID == 0 || !strings.Contains(err.Error(), "UNLINK_ID") {
				t.Fatalf("barrelgo -> ergo: err = %v, want a handshake.MissingFlagsError naming UNLINK_ID", err)
			}
			t.Logf("barrelgo -> ergo refused: %v", err)

			before := strings.Count(logs.String(), tc.refusal)
			if err := en.Connect(string(gn.Name())); err == nil {
				t.Fatalf("ergo -> barrelgo connected; barrelgo should have refused it")
			} else {
				t.Logf("ergo -> barrelgo refused; ergo reports: %v", err)
			}
			deadline := time.Now().Add(waitLong)
			for strings.Count(logs.String(), tc.refusal) == before {
				if time.Now().After(deadline) {
					t.Fatalf("barrelgo never logged a refusal containing %q; logs:\n%s", tc.refusal, logs.String())
				}
				time.Sleep(20 * time.Millisecond)
			}

			if slices.Contains(gn.Nodes(), etf.Atom(ergoName)) {
				t.Errorf("barrelgo lists ergo as connected: %v", gn.Nodes())
			}
			if slices.Contains(en.Nodes(), string(gn.Name())) {
				t.Errorf("ergo lists barrelgo as connected: %v", en.Nodes())
			}
		})
	}

	// The refusals left the node healthy: stock Erlang still connects.
	e := c.startErl()
	if got := c.rpcOn(t, gn, e, waitLong, "ping", gn.Name()); got != etf.Atom("pong") {
		t.Fatalf("after refusing ergo, net_adm:ping from Erlang = %s, want pong", etf.Format(got))
	}
}
