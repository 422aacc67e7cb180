%% dist_probe: the Erlang side of the distribution interop suite. The Go
%% tests call these functions with rpc:call (through the Go node's own
%% distribution connection) so every scenario runs both ways.
-module(dist_probe).
-export([start/0, ping/1, nodes/0, echo_server/0, call/3, cast/3,
         rpc/4, erpc/4, send_to/3, roundtrip/1, spawn_linker/2,
         spawn_monitor_of/2, wait_msgs/2, last_msg/1, kill_self/0,
         send_n/3, big/1, recv_count/2, roundtrip_check/2, big_echo/1,
         wait_kept/2, spawn_agent/0, agent/3, agent_wait/3, kill/1,
         exit_pid/2, global_sync/1, disconnect_then_ping/2,
         is_connected/1, wait_connected/2]).

%% Started with -s dist_probe start: a registered echo server and a
%% gen_server-like responder.
start() ->
    register(probe_echo, spawn(fun echo_server/0)),
    register(probe_gs, spawn(fun gs_loop/0)),
    %% The Go harness waits for this line: EPMD registration alone comes
    %% before -s runs, so it does not mean the names above exist.
    io:format("dist_probe ready~n"),
    ok.

echo_server() ->
    receive
        {echo, From, Msg} -> From ! {echo_reply, Msg}, echo_server();
        {From, Msg} when is_pid(From) -> From ! Msg, echo_server();
        _ -> echo_server()
    end.

gs_loop() ->
    receive
        {'$gen_call', From, {echo, X}} -> gen_server:reply(From, {reply, X}), gs_loop();
        {'$gen_call', From, stop} -> gen_server:reply(From, ok);
        {'$gen_call', From, Other} -> gen_server:reply(From, {unknown, Other}), gs_loop();
        {'$gen_cast', {store, Pid, X}} -> Pid ! {casted, X}, gs_loop();
        _ -> gs_loop()
    end.

ping(Node) -> net_adm:ping(Node).
nodes() -> erlang:nodes([visible, hidden]).
%% {'EXIT', Reason} when the call exits, as the old catch expression gave
%% (deprecated since OTP 29).
call(Node, Name, Req) ->
    try gen_server:call({Name, Node}, Req, 5000)
    catch exit:Reason -> {'EXIT', Reason}
    end.
cast(Node, Name, Req) -> gen_server:cast({Name, Node}, Req).
%% rpc/4's result is wrapped: the Go side calls this through rpc itself,
%% and a bare {badrpc, _} would read as the outer call failing.
rpc(Node, M, F, A) -> {rpc, rpc:call(Node, M, F, A, 5000)}.
erpc(Node, M, F, A) -> try {ok, erpc:call(Node, M, F, A, 5000)} catch C:R -> {C, R} end.
send_to(Node, Name, Msg) -> {Name, Node} ! Msg, ok.

%% roundtrip(T): sent from Go; Erlang checks it survived by returning it
%% with its own encoding, so Go can compare both ways.
roundtrip(T) -> {T, term_to_binary(T)}.

%% spawn_linker(GoPid, How): a process that links to GoPid and then exits
%% with How (normal | abnormal | kill-by-exit2 | stays).
spawn_linker(GoPid, How) ->
    Parent = self(),
    Pid = spawn(fun() ->
                        process_flag(trap_exit, true),
                        link(GoPid),
                        Parent ! {linked, self()},
                        receive
                            go -> exit(How);
                            {'EXIT', GoPid, R} -> keep({got_exit, R})
                        end
                end),
    receive {linked, Pid} -> Pid after 5000 -> timeout end.

%% spawn_monitor_of(GoPid, Name): a process that monitors GoPid and keeps
%% the DOWN reason for last_msg/1.
spawn_monitor_of(GoPid, _) ->
    Parent = self(),
    Pid = spawn(fun() ->
                        Ref = erlang:monitor(process, GoPid),
                        Parent ! {monitoring, self()},
                        receive {'DOWN', Ref, process, Obj, R} -> keep({down, Obj, R}) end
                end),
    receive {monitoring, Pid} -> Pid after 5000 -> timeout end.

keep(X) ->
    receive {get, From} -> From ! {kept, X} end.

last_msg(Pid) ->
    Pid ! {get, self()},
    receive {kept, X} -> X after 5000 -> timeout end.

wait_msgs(_, 0) -> ok;
wait_msgs(T, N) -> receive _ -> wait_msgs(T, N - 1) after T -> {timeout, N} end.

kill_self() -> spawn(fun() -> timer:sleep(100), os:cmd("kill -9 " ++ os:getpid()) end), ok.

%% send_n(Dest, N, Tag): send {Tag, I} for I in 1..N from one process.
send_n(Dest, N, Tag) ->
    Pid = spawn(fun() -> [Dest ! {Tag, I} || I <- lists:seq(1, N)] end),
    {ok, Pid}.

big(N) -> binary:copy(<<"x">>, N).

%% recv_count(N, Timeout): a registered receiver that checks N in-order
%% {seq, I} messages and reports to whoever asks.
recv_count(N, Timeout) ->
    Pid = spawn(fun() -> count_loop(1, N, Timeout) end),
    Pid.

count_loop(I, N, _T) when I > N -> keep({ok, N});
count_loop(I, N, T) ->
    receive
        {seq, I} -> count_loop(I + 1, N, T);
        {seq, J} -> keep({out_of_order, I, J})
    after T -> keep({timeout, I})
    end.

%% roundtrip_check(T, Bin): T arrived over distribution, Bin is Go's own
%% term_to_binary encoding of the same term. Erlang's verdict (=:=) goes back
%% with T, so both encoders are checked against each other on this side too.
roundtrip_check(T, Bin) ->
    Verdict = try binary_to_term(Bin) of
                  T2 when T2 =:= T -> equal;
                  T2 -> {differs, T2}
              catch C:R -> {binary_to_term, C, R}
              end,
    {T, Verdict}.

%% big_echo(Bin): the size and digest Erlang computed, and Bin back.
big_echo(Bin) -> {byte_size(Bin), erlang:md5(Bin), Bin}.

%% wait_kept(Pid, Timeout): last_msg/1 with the caller's timeout, for
%% processes that first have long work to do (recv_count/2).
wait_kept(Pid, Timeout) ->
    Pid ! {get, self()},
    receive {kept, X} -> X after Timeout -> timeout end.

%% An agent is an Erlang process the Go tests drive: it traps exits, links
%% and monitors on request, records every EXIT and DOWN it gets, and exits
%% with the reason it is told.
spawn_agent() ->
    Parent = self(),
    Pid = spawn(fun() ->
                        process_flag(trap_exit, true),
                        Parent ! {agent_ready, self()},
                        agent_loop([], [])
                end),
    receive {agent_ready, Pid} -> Pid after 5000 -> timeout end.

agent_loop(Events, Waiters) ->
    receive
        {cmd, From, {link, P}} ->
            From ! {self(), link(P)},
            agent_loop(Events, Waiters);
        {cmd, From, {monitor, T}} ->
            From ! {self(), erlang:monitor(process, T)},
            agent_loop(Events, Waiters);
        {cmd, From, {exit, R}} ->
            From ! {self(), ok},
            exit(R);
        {cmd, From, {wait, N}} when length(Events) >= N ->
            From ! {self(), lists:reverse(Events)},
            agent_loop(Events, Waiters);
        {cmd, From, {wait, N}} ->
            agent_loop(Events, [{From, N} | Waiters]);
        {'EXIT', _, _} = E -> agent_event(E, Events, Waiters);
        {'DOWN', _, _, _, _} = E -> agent_event(E, Events, Waiters)
    end.

agent_event(E, Events0, Waiters0) ->
    Events = [E | Events0],
    {Ready, Waiting} = lists:partition(fun({_, N}) -> length(Events) >= N end, Waiters0),
    _ = [From ! {self(), lists:reverse(Events)} || {From, _} <- Ready],
    agent_loop(Events, Waiting).

%% agent(Pid, Cmd, Timeout): run one agent command and return its answer.
agent(Pid, Cmd, Timeout) ->
    Pid ! {cmd, self(), Cmd},
    receive {Pid, R} -> R after Timeout -> timeout end.

%% agent_wait(Pid, N, Timeout): the agent's first N events, once it has them.
agent_wait(Pid, N, Timeout) -> agent(Pid, {wait, N}, Timeout).

kill(Pid) -> exit(Pid, kill), ok.
exit_pid(Pid, Reason) -> exit(Pid, Reason), ok.

%% global_sync(Timeout): global:sync() bounded by Timeout, with its duration.
global_sync(Timeout) ->
    {Pid, Ref} = spawn_monitor(fun() ->
                                       T0 = erlang:monotonic_time(millisecond),
                                       R = global:sync(),
                                       exit({done, R, erlang:monotonic_time(millisecond) - T0})
                               end),
    receive
        {'DOWN', Ref, process, Pid, {done, R, Ms}} -> {R, Ms};
        {'DOWN', Ref, process, Pid, Other} -> {crashed, Other}
    after Timeout ->
            exit(Pid, kill),
            timeout
    end.

%% disconnect_then_ping(Node, Delay): after Delay ms (so this rpc's reply
%% leaves first), drop the connection to Node, then dial it again.
disconnect_then_ping(Node, Delay) ->
    spawn(fun() ->
                  timer:sleep(Delay),
                  true = erlang:disconnect_node(Node),
                  pong = net_adm:ping(Node)
          end),
    ok.

is_connected(Node) -> lists:member(Node, erlang:nodes([visible, hidden])).

%% wait_connected(Node, Timeout): true once this node is connected to Node.
wait_connected(Node, Timeout) ->
    ok = net_kernel:monitor_nodes(true, [{node_type, all}]),
    R = is_connected(Node) orelse
        receive {nodeup, Node, _} -> true after Timeout -> false end,
    ok = net_kernel:monitor_nodes(false, [{node_type, all}]),
    R.
