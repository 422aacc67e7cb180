%% Test double of erlang_quic's `quic' module for barrelgo's auth interop
%% test: the three calls barrel_p2p_dist_auth_stream makes are forwarded to
%% the bridge process (auth_harness), which carries the two auth uni
%% streams to the Go test over a loopback TCP socket.
-module(quic).
-export([open_unidirectional_stream/1, send_data/4, peercert/1]).

open_unidirectional_stream(Bridge) -> call(Bridge, open_uni).

send_data(Bridge, StreamId, Bytes, Fin) -> call(Bridge, {send, StreamId, Bytes, Fin}).

peercert(Bridge) -> call(Bridge, peercert).

call(Bridge, Req) ->
    Ref = make_ref(),
    Bridge ! {Req, self(), Ref},
    receive
        {Ref, Reply} -> Reply
    after 10000 -> {error, bridge_timeout}
    end.
