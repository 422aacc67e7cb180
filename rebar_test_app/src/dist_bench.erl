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
         msg/1, pingpong/3, oneway/3, percentiles/2]).

%% Round-trip histogram: 250 ns buckets up to 50 ms.
-define(BUCKET_NS, 250).
-define(BUCKETS, 200000).

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
%% {TotalNs, P50Ns, P99Ns}. Each round trip lands in a histogram of
%% atomics (250 ns buckets) rather than a list: a list of samples grows
%% the driver's heap through the run, so the driver's own garbage
%% collections, which copy that list, would fall inside timed round trips.
pingpong(Echo, N, Kind) ->
    Msg = msg(Kind),
    flush(),
    Hist = atomics:new(?BUCKETS, [{signed, false}]),
    T0 = erlang:monotonic_time(nanosecond),
    pingpong_loop(Echo, Msg, N, Hist),
    Total = erlang:monotonic_time(nanosecond) - T0,
    {Total, pct(Hist, N, 50), pct(Hist, N, 99)}.

pingpong_loop(_, _, 0, _) -> ok;
pingpong_loop(Echo, Msg, N, Hist) ->
    T0 = erlang:monotonic_time(nanosecond),
    Echo ! {self(), Msg},
    receive
        Msg -> ok
    after 30000 -> exit(echo_timeout)
    end,
    record(Hist, erlang:monotonic_time(nanosecond) - T0),
    pingpong_loop(Echo, Msg, N - 1, Hist).

record(Hist, Ns) -> atomics:add(Hist, min(?BUCKETS, Ns div ?BUCKET_NS + 1), 1).

%% percentiles(SamplesNs, Ps): what pingpong would report for these
%% samples (bench_test.go checks it against its own percentile).
percentiles(Samples, Ps) ->
    Hist = atomics:new(?BUCKETS, [{signed, false}]),
    [record(Hist, Ns) || Ns <- Samples],
    [pct(Hist, length(Samples), P) || P <- Ps].

%% pct(Hist, N, P): the nearest-rank percentile of N samples, as
%% bench_test.go takes it, to the middle of its bucket. The last bucket
%% also holds everything longer than 50 ms.
pct(Hist, N, P) ->
    Rank = max(1, min(N, (N * P + 99) div 100)),
    pct(Hist, Rank, 1, 0).

pct(Hist, Rank, I, Seen) ->
    case Seen + atomics:get(Hist, I) of
        S when S >= Rank; I =:= ?BUCKETS -> (I - 1) * ?BUCKET_NS + ?BUCKET_NS div 2;
        S -> pct(Hist, Rank, I + 1, S)
    end.

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
