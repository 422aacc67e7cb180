package auth

// server is the incoming role (auth.md §8.1): read HELLO; cookie-only
// short-circuit or pin check (FAIL on our fresh stream when rejected); open
// our stream; send HELLO and CHALLENGE back to back; read CHALLENGE; send
// RESPONSE; read RESPONSE and verify (FAIL signature_invalid when bad);
// send OK; pin.
func (ss *session) server() (string, error) {
	var zero [BindingSize]byte
	if ss.s.Binding == zero {
		return "", ss.fail("{channel_binding_failed,no_cert_file}", ErrChannelBinding, nil)
	}
	m, e := ss.recv("hello")
	if e != nil {
		return "", e
	}
	peer, ok := m.(Hello)
	if !ok {
		return "", ss.unexpected(m)
	}
	ss.peer = peer.Name

	// Cookie-only wins over pins and ignores the presented key.
	if MatchCookieOnly(ss.a.cfg.CookieOnlyNodes, peer.Name) {
		if e := ss.open(); e != nil {
			return "", e
		}
		if e := ss.send("ok", OK{}); e != nil {
			return "", e
		}
		ss.a.warnCookieOnly()
		return "", nil
	}
	if e := ss.trust(peer); e != nil {
		// The client learns why; send errors change nothing: the
		// connection is closed by the carrier anyway.
		if ss.open() == nil {
			_ = ss.send("fail", Fail{Reason: e.Term})
		}
		return "", e
	}

	id, e := ss.identity()
	if e != nil {
		return "", e
	}
	if e := ss.open(); e != nil {
		return "", e
	}
	hello := Hello{Name: ss.a.cfg.LocalName}
	copy(hello.PublicKey[:], id.Public)
	if e := ss.send("hello", hello); e != nil {
		return "", e
	}
	own, e := ss.exchangeChallenges(id)
	if e != nil {
		return "", e
	}

	m, e = ss.recv("response")
	if e != nil {
		return "", e
	}
	resp, ok := m.(Response)
	if !ok {
		return "", ss.unexpected(m)
	}
	if e := ss.verify(peer, own, resp); e != nil {
		_ = ss.send("fail", Fail{Reason: "signature_invalid"})
		return "", e
	}
	if e := ss.send("ok", OK{}); e != nil {
		return "", e
	}
	if e := ss.record(peer); e != nil {
		return "", e
	}
	return peer.Name, nil
}
