%% barrel_probe: the Erlang side of barrelgo's barrel_p2p interop suite.
%%
%% interop/barrelharness boots a real barrel_p2p node (OTP >= 27) that loads
%% this module and calls start/1 with the TCP port of the harness. The probe
%% starts barrel_p2p, registers its test processes and then serves requests
%% {Id, Module, Function, Args} from the harness over that socket
%% ({packet,4}, external term format), answering {Id, ok, Result} or
%% {Id, error, {Class, Reason}}. The control socket is deliberately not the
%% distribution link under test, so the harness can drive the node while
%% that link is broken, refused or being re-established. When the harness
%% closes the socket (its test ended or crashed) the node halts.
-module(barrel_probe).
-behaviour(gen_server).

-export([start/1]).
%% Requests the harness sends.
-export([ping/1, connect/2, disconnect/1, nodes/0, send/2, send_n/2,
         call/4, rpc/4, erpc/4, collect_n/1, result/2, watch/1, target/0,
         stop_target/2, kill/1, big_check/0, auth_results/0,
         clear_auth_results/0, pub_key/0, pins/0, store_pin/2, delete_pin/1,
         set_env/2, gc_sweep/0, loop/0, echo/0, same/0,
         dist_debug/0]).
%% gen_server callbacks of probe_gs.
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(CALL_TIMEOUT, 10000).

%%====================================================================
%% Boot and control channel
%%====================================================================

start(CtlPort) ->
    {ok, _} = application:ensure_all_started(barrel_p2p),
    trace_auth(),
    register(probe_echo, spawn(fun ?MODULE:echo/0)),
    register(probe_same, spawn(fun ?MODULE:same/0)),
    {ok, _} = gen_server:start({local, probe_gs}, ?MODULE, [], []),
    Parent = self(),
    Ctl = spawn(fun() -> control(Parent, CtlPort) end),
    receive
        {Ctl, connected} -> ok
    after 10000 -> erlang:halt(3)
    end.

control(Parent, CtlPort) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, CtlPort,
                              [binary, {packet, 4}, {active, true}, {nodelay, true}]),
    ok = gen_tcp:send(S, term_to_binary({ready, node()})),
    Parent ! {self(), connected},
    control_loop(S).

control_loop(S) ->
    receive
        {tcp, S, Bin} ->
            Self = self(),
            {Id, M, F, A} = binary_to_term(Bin),
            spawn(fun() -> Self ! {reply, run(Id, M, F, A)} end),
            control_loop(S);
        {reply, R} ->
            ok = gen_tcp:send(S, term_to_binary(R)),
            control_loop(S);
        {tcp_closed, S} ->
            erlang:halt(0);
        {tcp_error, S, _} ->
            erlang:halt(0)
    end.

run(Id, M, F, A) ->
    try {Id, ok, apply(M, F, A)}
    catch C:R -> {Id, error, {C, R}}
    end.

%%====================================================================
%% Auth results: every barrel_p2p_dist_auth_callback:authenticate/3 call
%% on this node and what it returned, for the tests to assert on.
%%====================================================================

trace_auth() ->
    Self = self(),
    %% The tracer owns the results table: the boot process exits.
    Tracer = spawn(fun() ->
                           ets:new(barrel_probe_auth, [named_table, public, ordered_set]),
                           Self ! {self(), table},
                           auth_tracer(#{})
                   end),
    receive {Tracer, table} -> ok end,
    register(barrel_probe_tracer, Tracer),
    erlang:trace_pattern({barrel_p2p_dist_auth_callback, authenticate, 3},
                         [{'_', [], [{return_trace}, {exception_trace}]}], [global]),
    erlang:trace(all, true, [call, {tracer, Tracer}]),
    ok.

auth_tracer(Pending) ->
    receive
        {trace, Pid, call, {_, authenticate, [_Conn, Side, _Timeout]}} ->
            auth_tracer(Pending#{Pid => Side});
        {trace, Pid, return_from, {_, authenticate, 3}, Result} ->
            record_auth(maps:get(Pid, Pending, unknown), Result),
            auth_tracer(maps:remove(Pid, Pending));
        {trace, Pid, exception_from, {_, authenticate, 3}, Exc} ->
            record_auth(maps:get(Pid, Pending, unknown), {exception, Exc}),
            auth_tracer(maps:remove(Pid, Pending));
        _ ->
            auth_tracer(Pending)
    end.

record_auth(Side, Result) ->
    ets:insert(barrel_probe_auth, {erlang:unique_integer([monotonic]), Side, Result}).

%% [{Side, Result}] in call order.
auth_results() ->
    [{Side, R} || {_, Side, R} <- ets:tab2list(barrel_probe_auth)].

clear_auth_results() ->
    ets:delete_all_objects(barrel_probe_auth),
    ok.

%%====================================================================
%% Distribution helpers
%%====================================================================

ping(Node) -> net_adm:ping(Node).

%% net_kernel:connect_node/1 can block forever (wrong cookie, refused
%% auth); bound it.
connect(Node, Timeout) ->
    Self = self(),
    Ref = make_ref(),
    Pid = spawn(fun() -> Self ! {Ref, net_kernel:connect_node(Node)} end),
    receive
        {Ref, R} -> R
    after Timeout ->
        exit(Pid, kill),
        timeout
    end.

disconnect(Node) -> erlang:disconnect_node(Node).

nodes() -> erlang:nodes(connected).

send(Dest, Msg) ->
    Dest ! Msg,
    ok.

%% Sends 1..N to Dest from one process, in order.
send_n(Dest, N) ->
    lists:foreach(fun(I) -> Dest ! I end, lists:seq(1, N)),
    ok.

call(Node, Name, Req, Timeout) ->
    try {ok, gen_server:call({Name, Node}, Req, Timeout)}
    catch C:R -> {C, R}
    end.

%% The results are wrapped so a {badrpc, _} cannot be mistaken for the
%% control call failing.
rpc(Node, M, F, A) -> {rpc, rpc:call(Node, M, F, A, ?CALL_TIMEOUT)}.

erpc(Node, M, F, A) ->
    try {ok, erpc:call(Node, M, F, A, ?CALL_TIMEOUT)}
    catch C:R -> {C, R}
    end.

%%====================================================================
%% Test processes
%%====================================================================

%% probe_echo: {From, Msg} -> From ! Msg.
echo() ->
    receive
        {From, Msg} when is_pid(From) -> From ! Msg;
        _ -> ok
    end,
    echo().

%% probe_same: {From, Bin, T} -> From ! {same, binary_to_term(Bin) =:= T}:
%% whether a term that came over distribution is exactly the term OTP's
%% own bytes Bin stand for.
same() ->
    receive
        {From, Bin, T} when is_pid(From), is_binary(Bin) ->
            From ! {same, try binary_to_term(Bin) =:= T catch error:_ -> false end};
        _ -> ok
    end,
    same().

%% A process that expects 1..N in order and keeps the verdict for result/2:
%% {ok, N} or {out_of_order, Index, Got}. A result request that comes
%% before the last message waits for the verdict.
collect_n(N) ->
    spawn(fun() -> collect(1, N, []) end).

collect(I, N, Waiting) when I > N -> reply_all(Waiting, {ok, N}), keep({ok, N});
collect(I, N, Waiting) ->
    receive
        {get, From, Ref} -> collect(I, N, [{From, Ref} | Waiting]);
        I -> collect(I + 1, N, Waiting);
        Other -> V = {out_of_order, I, Other}, reply_all(Waiting, V), keep(V)
    end.

reply_all(Waiting, V) -> [From ! {Ref, V} || {From, Ref} <- Waiting].

keep(Result) ->
    receive
        {get, From, Ref} -> From ! {Ref, Result}, keep(Result)
    end.

result(Pid, Timeout) ->
    Ref = make_ref(),
    MRef = erlang:monitor(process, Pid),
    Pid ! {get, self(), Ref},
    receive
        {Ref, R} -> erlang:demonitor(MRef, [flush]), R;
        {'DOWN', MRef, _, _, Why} -> {dead, Why}
    after Timeout -> erlang:demonitor(MRef, [flush]), timeout
    end.

%% watch(Pid): a process that links to and monitors Pid (usually a Go
%% process), then sends it {watching, self()} (on the same ordered path as
%% the link and monitor, so Pid knows both are in place once it has that
%% message), and keeps the first exit signal and DOWN it gets:
%% {{exit, Reason}, {down, Reason}}.
watch(Pid) ->
    Parent = self(),
    Ref = make_ref(),
    W = spawn(fun() ->
                      process_flag(trap_exit, true),
                      link(Pid),
                      M = erlang:monitor(process, Pid),
                      Pid ! {watching, self()},
                      Parent ! {Ref, watching},
                      E = receive {'EXIT', Pid, R1} -> {exit, R1} end,
                      D = receive {'DOWN', M, process, _, R2} -> {down, R2} end,
                      keep({E, D})
              end),
    receive {Ref, watching} -> W after 5000 -> timeout end.

%% target(): a process that answers {sync, From} with {synced, self()} (a
%% Go process that linked and monitored it first knows both arrived) and
%% exits with the reason stop_target/2 gives it.
target() ->
    spawn(fun target_loop/0).

target_loop() ->
    receive
        {sync, From} -> From ! {synced, self()}, target_loop();
        {stop, Reason} -> exit(Reason)
    end.

stop_target(Pid, Reason) ->
    Pid ! {stop, Reason},
    ok.

kill(Pid) -> exit(Pid, kill).

%% big_check(): a process that takes {From, Bin}, answers
%% {checked, byte_size(Bin), sha256(Bin)} and then sends Bin back.
big_check() ->
    spawn(fun() ->
                  receive
                      {From, Bin} when is_binary(Bin) ->
                          From ! {checked, byte_size(Bin), crypto:hash(sha256, Bin)},
                          From ! Bin
                  end
          end).

loop() -> receive stop -> ok end.

%% dist_debug(): for each quic_dist controller, its state name, the
%% number of dist messages waiting in its per-stream send queues and the
%% QUIC connection's send queue info. Diagnostics only: it reads
%% erlang_quic 1.8.1's private state (send_queues is the 9th field of its
%% state record).
dist_debug() ->
    [begin
         {Name, S} = sys:get_state(P, 5000),
         Qs = element(10, S),
         Conn = element(2, S),
         {P, Name, maps:map(fun(_, Q) -> queue:len(Q) end, Qs),
          caught(fun() -> quic:get_send_queue_info(Conn) end),
          caught(fun() -> quic:get_stats(Conn) end),
          caught(fun() -> loss_summary(Conn) end)}
     end
     || P <- processes(),
        proc_lib:translate_initial_call(P) =:= {quic_dist_controller, init, 1}].

%% What the old catch expression gave, which OTP 29 deprecates.
caught(F) ->
    try F()
    catch
        throw:V -> V;
        exit:R -> {'EXIT', R};
        error:R:St -> {'EXIT', {R, St}}
    end.

loss_summary(Conn) ->
    {_, CS} = sys:get_state(Conn, 5000),
    [L] = [X || X <- tuple_to_list(CS), is_tuple(X), tuple_size(X) > 1, element(1, X) =:= loss_state],
    Sent = queue:to_list(element(2, L)),
    PNs = [element(2, SP) || SP <- Sent],
    KS = [#{phase => element(2, K), prev_keys => element(4, K) =/= undefined, update => element(7, K)}
          || K <- tuple_to_list(CS), is_tuple(K), tuple_size(K) > 6, element(1, K) =:= key_update_state],
    #{sent => length(Sent), pns => case PNs of [] -> []; _ -> {lists:min(PNs), lists:max(PNs)} end,
      loss_state => setelement(2, L, sent_q), key_update => KS}.

%%====================================================================
%% Keys, pins and configuration
%%====================================================================

pub_key() ->
    {ok, Pub} = barrel_p2p_dist_auth:get_public_key(),
    Pub.

%% [{Node, PublicKey}] of the pin table (#peer_key{node, fingerprint,
%% public_key, ...} records in barrel_p2p).
pins() -> [{element(2, K), element(4, K)} || K <- barrel_p2p_dist_keys:list_trusted()].

store_pin(Node, Pub) -> barrel_p2p_dist_keys:store_key(Node, Pub).

delete_pin(Node) -> barrel_p2p_dist_keys:delete_key(Node).

set_env(Key, Value) -> application:set_env(barrel_p2p, Key, Value).

gc_sweep() -> barrel_p2p_dist_gc:sweep_now().

%%====================================================================
%% probe_gs: a real gen_server for call scenarios
%%====================================================================

init([]) -> {ok, #{}}.

handle_call({echo, X}, _From, S) -> {reply, {reply, X}, S};
handle_call({sleep, Ms}, _From, S) -> timer:sleep(Ms), {reply, slept, S};
handle_call(Other, _From, S) -> {reply, {unknown, Other}, S}.

handle_cast({store, Pid, X}, S) -> Pid ! {casted, X}, {noreply, S};
handle_cast(_, S) -> {noreply, S}.

handle_info(_, S) -> {noreply, S}.
