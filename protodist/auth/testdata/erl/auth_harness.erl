%% barrelgo auth interop harness: runs the real barrel_p2p auth state
%% machine (barrel_p2p_dist_auth_stream) for one connection whose two auth
%% uni streams are carried over a TCP socket to the Go test.
%%
%% Wire between Go and this bridge: <<Type:8, Len:32, Payload:Len/binary>>,
%% Type 1 = stream data, 2 = FIN of the sender's auth stream, 3 = the
%% sender closes the connection.
-module(auth_harness).
-export([main/1]).

main([Role, Port, KeyDir, Mode, CookieOnly, Target, CertFile, PeerCertHex, Timeout]) ->
    ok = application:load(barrel_p2p),
    ok = application:set_env(barrel_p2p, auth_key_dir, KeyDir),
    ok = application:set_env(barrel_p2p, auth_trust_mode, list_to_atom(Mode)),
    ok = application:set_env(barrel_p2p, cookie_only_nodes,
                             [list_to_atom(P) || P <- string:lexemes(CookieOnly, ",")]),
    ok = application:set_env(quic, dist, [{cert_file, CertFile}]),
    {ok, _} = barrel_p2p_dist_keys:start_link(),
    {ok, Sock} = gen_tcp:connect({127, 0, 0, 1}, list_to_integer(Port),
                                 [binary, {active, false}, {nodelay, true}]),
    {MySid, PeerSid} = case Role of
                           "server" -> {3, 2};
                           "client" -> {2, 3}
                       end,
    PeerCert = case PeerCertHex of
                   "none" -> {error, no_peercert};
                   _ -> {ok, binary:decode_hex(list_to_binary(PeerCertHex))}
               end,
    Self = self(),
    Bridge = spawn(fun() -> bridge_start(Sock, Self, MySid, PeerSid, PeerCert) end),
    ok = gen_tcp:controlling_process(Sock, Bridge),
    Bridge ! go,
    T = list_to_integer(Timeout),
    Result = case Role of
                 "server" ->
                     barrel_p2p_dist_auth:cache_server_cert_binding(),
                     barrel_p2p_dist_auth_stream:authenticate_incoming(Bridge, T);
                 "client" ->
                     Tgt = case Target of "undefined" -> undefined; _ -> list_to_atom(Target) end,
                     barrel_p2p_dist_auth_stream:authenticate_outgoing(Bridge, Tgt, T)
             end,
    io:format("RESULT ~s~n", [io_lib:print(Result, 1, 1000000, -1)]),
    %% quic_dist closes the connection on failure; on success the dist
    %% handshake would follow. Either way this exchange is over.
    Ref = make_ref(),
    Bridge ! {close, self(), Ref},
    receive {Ref, _} -> ok after 5000 -> ok end,
    [io:format("PIN ~s ~s~n", [N, binary:encode_hex(K)])
     || {peer_key, N, _, K, _, _, _} <- barrel_p2p_dist_keys:list_trusted()],
    halt(0).

bridge_start(Sock, Owner, MySid, PeerSid, PeerCert) ->
    receive go -> ok end,
    ok = inet:setopts(Sock, [{active, true}]),
    bridge(Sock, Owner, MySid, PeerSid, PeerCert, <<>>).

bridge(Sock, Owner, MySid, PeerSid, PeerCert, Buf) ->
    receive
        {tcp, Sock, Data} ->
            Rest = deliver(<<Buf/binary, Data/binary>>, Owner, PeerSid),
            bridge(Sock, Owner, MySid, PeerSid, PeerCert, Rest);
        {tcp_closed, Sock} ->
            Owner ! {quic, self(), {closed, tcp_closed}},
            idle();
        {open_uni, From, Ref} ->
            From ! {Ref, {ok, MySid}},
            bridge(Sock, Owner, MySid, PeerSid, PeerCert, Buf);
        {{send, _Sid, Bytes, Fin}, From, Ref} ->
            R1 = case Bytes of
                     <<>> -> ok;
                     _ -> gen_tcp:send(Sock, frame(1, Bytes))
                 end,
            R2 = case Fin of
                     true when R1 =:= ok -> gen_tcp:send(Sock, frame(2, <<>>));
                     _ -> R1
                 end,
            From ! {Ref, case R2 of ok -> ok; {error, _} -> {error, {invalid_state, draining}} end},
            bridge(Sock, Owner, MySid, PeerSid, PeerCert, Buf);
        {peercert, From, Ref} ->
            From ! {Ref, PeerCert},
            bridge(Sock, Owner, MySid, PeerSid, PeerCert, Buf);
        {close, From, Ref} ->
            _ = gen_tcp:send(Sock, frame(3, <<>>)),
            _ = gen_tcp:close(Sock),
            From ! {Ref, ok},
            idle()
    end.

%% After the connection is gone, answer calls as a closed connection would.
idle() ->
    receive
        {close, From, Ref} -> From ! {Ref, ok}, idle();
        {{send, _, _, _}, From, Ref} -> From ! {Ref, {error, {invalid_state, draining}}}, idle();
        {_, From, Ref} when is_pid(From) -> From ! {Ref, {error, closed}}, idle();
        _ -> idle()
    end.

deliver(<<T:8, Len:32, P:Len/binary, Rest/binary>>, Owner, PeerSid) ->
    Event = case T of
                1 -> {stream_data, PeerSid, P, false};
                2 -> {stream_data, PeerSid, <<>>, true};
                3 -> {closed, {peer_closed, application, 0, <<>>}}
            end,
    Owner ! {quic, self(), Event},
    deliver(Rest, Owner, PeerSid);
deliver(Buf, _Owner, _PeerSid) ->
    Buf.

frame(T, P) -> <<T:8, (byte_size(P)):32, P/binary>>.
