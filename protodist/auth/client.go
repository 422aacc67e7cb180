package auth

import "errors"

// client is the outgoing role (auth.md §8.1): send HELLO, read HELLO (or
// FAIL, or the cookie-only OK), trust check, send CHALLENGE, read
// CHALLENGE, send RESPONSE, read RESPONSE and verify, read OK, pin. The
// client never sends OK or FAIL.
func (ss *session) client(dialed string) (string, error) {
	var zero [BindingSize]byte
	if ss.s.Binding == zero {
		return "", ss.fail("{channel_binding_failed,{peercert_unavailable,no_peercert}}", ErrChannelBinding, nil)
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

	m, e := ss.recv("hello")
	if e != nil {
		return "", e
	}
	var peer Hello
	switch v := m.(type) {
	case Hello:
		peer = v
	case Fail:
		return "", ss.rejected(v)
	case OK:
		if dialed != "" && MatchCookieOnly(ss.a.cfg.CookieOnlyNodes, dialed) {
			ss.a.warnCookieOnly()
			return "", nil
		}
		return "", ss.fail("unexpected_auth_ok", ErrUnexpectedAuthOK, nil)
	default:
		return "", ss.unexpected(m)
	}
	ss.peer = peer.Name
	if dialed != "" && peer.Name != dialed {
		return "", ss.fail("{hello_name_mismatch,"+erlBinary([]byte(dialed))+","+erlBinary([]byte(peer.Name))+"}",
			ErrNameMismatch, errors.New("server's HELLO name is not the dialed node"))
	}
	if e := ss.trust(peer); e != nil {
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
	switch v := m.(type) {
	case Response:
		if e := ss.verify(peer, own, v); e != nil {
			return "", e
		}
	case Fail:
		return "", ss.rejected(v)
	default:
		return "", ss.unexpected(m)
	}

	m, e = ss.recv("ok")
	if e != nil {
		return "", e
	}
	switch v := m.(type) {
	case OK:
	case Fail:
		return "", ss.rejected(v)
	default:
		return "", ss.unexpected(m)
	}
	if e := ss.record(peer); e != nil {
		return "", e
	}
	return peer.Name, nil
}

// expectChallenge reads the peer's CHALLENGE; a FAIL is a rejection (the
// server cannot send one here, but barrel_p2p's client accepts it).
func (ss *session) expectChallenge() (Challenge, *Error) {
	m, e := ss.recv("challenge")
	if e != nil {
		return Challenge{}, e
	}
	switch v := m.(type) {
	case Challenge:
		return v, nil
	case Fail:
		if ss.role == Client {
			return Challenge{}, ss.rejected(v)
		}
	}
	return Challenge{}, ss.unexpected(m)
}
