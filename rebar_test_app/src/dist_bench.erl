%% dist_bench: the Erlang side of the distribution benchmarks
%% (interop/bench_test.go). The same driver code measures Erlang<->Erlang
%% (the baseline) and Erlang<->Go: only the peer process differs. Timing
%% is taken here with erlang:monotonic_time and returned to Go over rpc, so
%% every number of one `go test -bench` run comes from the same machine
%% state.
%%
%% Peer protocols, spoken identically by the Go side:
%%   echo: {From, Msg}                 -> From ! Msg
%%   sink: {bench_sink, ReplyTo, N}, then N messages
%%                                     -> ReplyTo ! {bench_sink_done, N}
-module(dist_bench).
-export([start/0, echo/0, sink/0, start_echo/0, start_sink/0, connect/1,
         msg/1, pingpong/3, oneway/3]).

%% Started with -s dist_bench start.
start() ->
    register(bench_echo, spawn(fun echo/0)),
    register(bench_sink, spawn(fun sink/0)),
    %% The Go harness waits for this line: the names above exist once it
    %% is printed.
    io:format("dist_bench ready~n"),
    ok.

start_echo() -> whereis(bench_echo).
start_sink() -> whereis(bench_sink).

echo() ->
    receive
        {From, Msg} when is_pid(From) -> From ! Msg;
        _ -> ok
    end,
    echo().

sink() ->
    receive
        {bench_sink, ReplyTo, N} -> count(ReplyTo, N, N);
        _ -> ok
    end,
    sink().

count(ReplyTo, N, 0) -> ReplyTo ! {bench_sink_done, N};
count(ReplyTo, N, Left) -> receive _ -> count(ReplyTo, N, Left - 1) end.

%% connect(Node): set up the connection before anything is timed.
connect(Node) -> net_kernel:connect_node(Node).

%% msg(Kind): the benchmark messages; bench_test.go builds the same terms.
msg(small) -> {bench, 1, binary:copy(<<"0123456789abcdef">>, 2)};
msg(big) -> binary:copy(<<"0123456789abcdef">>, 65536).

%% pingpong(Echo, N, Kind): N sequential round trips to Echo; returns
%% {TotalNs, P50Ns, P99Ns}.
pingpong(Echo, N, Kind) ->
    Msg = msg(Kind),
    flush(),
    T0 = erlang:monotonic_time(nanosecond),
    Samples = pingpong_loop(Echo, Msg, N, []),
    Total = erlang:monotonic_time(nanosecond) - T0,
    Sorted = list_to_tuple(lists:sort(Samples)),
    {Total, pct(Sorted, 50), pct(Sorted, 99)}.

pingpong_loop(_, _, 0, Acc) -> Acc;
pingpong_loop(Echo, Msg, N, Acc) ->
    T0 = erlang:monotonic_time(nanosecond),
    Echo ! {self(), Msg},
    receive
        Msg -> ok
    after 30000 -> exit(echo_timeout)
    end,
    pingpong_loop(Echo, Msg, N - 1, [erlang:monotonic_time(nanosecond) - T0 | Acc]).

%% pct(Sorted, P): the nearest-rank percentile, as bench_test.go takes it.
pct(Sorted, P) ->
    Len = tuple_size(Sorted),
    element(max(1, min(Len, (Len * P + 99) div 100)), Sorted).

%% oneway(Sink, N, Kind): N messages to Sink from one process, timed until
%% Sink reports it has them all; returns TotalNs.
oneway(Sink, N, Kind) ->
    Msg = msg(Kind),
    flush(),
    T0 = erlang:monotonic_time(nanosecond),
    Sink ! {bench_sink, self(), N},
    send_loop(Sink, Msg, N),
    receive
        {bench_sink_done, N} -> erlang:monotonic_time(nanosecond) - T0
    after 120000 -> exit(sink_timeout)
    end.

send_loop(_, _, 0) -> ok;
send_loop(Sink, Msg, N) ->
    Sink ! Msg,
    send_loop(Sink, Msg, N - 1).

flush() ->
    receive _ -> flush()
    after 0 -> ok
    end.
