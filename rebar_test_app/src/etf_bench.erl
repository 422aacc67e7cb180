%% @doc OTP side of the etf codec benchmark: the five items of
%% etf/bench_test.go, timed with term_to_binary/2 and binary_to_term/1.
%%
%% main/0,1 print one line per item and direction in the format of `go test
%% -bench` (BenchmarkEncode/<item>/otp  N  ns/op  MB/s) so that
%% scripts/bench_otp_etf.sh can put both in one table. dump/0 prints the
%% encoding of every item for TestBenchItemsMatchOTP.
-module(etf_bench).

-export([main/0, main/1, dump/0, items/0]).

%% Atoms as UTF-8 (SMALL_ATOM_UTF8_EXT), the default from OTP 26 and what the
%% Go encoder writes; OTP 25 defaults to Latin-1 ATOM_EXT.
-define(OPTS, [{minor_version, 2}]).

-define(NODE, <<"gateway@127.0.0.1">>).
-define(HOST, 'node@host').

main() ->
    main(["1"]).

%% Args: [SecondsPerMeasurement].
main([Secs | _]) ->
    Target = round(seconds(Secs) * 1.0e9),
    lists:foreach(
        fun({Name, Terms}) ->
            Bins = [term_to_binary(T, ?OPTS) || T <- Terms],
            Size = lists:sum([byte_size(B) || B <- Bins]),
            report("Encode", Name, Size, measure(fun() -> encode_all(Terms, 0) end, Target)),
            report("Decode", Name, Size, measure(fun() -> decode_all(Bins, 0) end, Target))
        end,
        items()).

seconds(S) ->
    case string:to_float(S) of
        {F, ""} -> F;
        _ -> float(list_to_integer(S))
    end.

dump() ->
    lists:foreach(
        fun({Name, Terms}) ->
            Hex = [binary:encode_hex(term_to_binary(T, ?OPTS)) || T <- Terms],
            io:format("~s ~s~n", [Name, lists:join(" ", Hex)])
        end,
        items()).

items() ->
    Pid = pid(?NODE, 211),
    Alias = ref(?NODE, [28690, 4284219393, 2471329701]),
    Control = {6, Pid, '', barrel_p2p_registry},
    Call = {'$gen_call', {Pid, Alias}, {get, key, <<"value">>}},
    [{control_call, [Control, Call]},
     {registry_delta, [registry_delta(200)]},
     {binary_1mib, [<< <<((I * 7) band 255)>> || I <- lists:seq(0, 1024 * 1024 - 1) >>]},
     {list_10k, [[list_elem(I) || I <- lists:seq(0, 9999)]]},
     {nested_50, [nested(50)]}].

registry_delta(N) ->
    HostBin = atom_to_binary(?HOST),
    maps:from_list(
        [begin
             Svc = list_to_atom("svc_" ++ integer_to_list(I)),
             {{Svc, ?HOST},
              {value,
               {service_entry, Svc, pid(HostBin, 100 + I), ?HOST, #{n => I, role => <<"golden">>}},
               #{{?HOST, {timestamp, 1795696812646 + I, 1}} => true}}}
         end
         || I <- lists:seq(0, N - 1)]).

list_elem(I) ->
    case I rem 6 of
        0 -> I rem 256;
        1 -> lists:nth(I rem 4 + 1, [ok, error, undefined, true]);
        2 -> {item, I};
        3 -> <<"bin">>;
        4 -> I * 1000;
        5 -> I + 0.5
    end.

nested(0) -> bottom;
nested(D) when D rem 2 =:= 1 -> {D, nested(D - 1)};
nested(D) -> [nested(D - 1), D].

%% Remote pids and references cannot be written in Erlang source; build
%% them from their external format (creation 4, as the Go items).
pid(Node, Id) ->
    binary_to_term(<<131, 88, 119, (byte_size(Node)), Node/binary, Id:32, 0:32, 4:32>>).

ref(Node, Words) ->
    Ids = << <<W:32>> || W <- Words >>,
    binary_to_term(<<131, 90, (length(Words)):16, 119, (byte_size(Node)), Node/binary, 4:32, Ids/binary>>).

%% The sums keep the compiler from dropping the calls.
encode_all([], Acc) -> Acc;
encode_all([T | Ts], Acc) -> encode_all(Ts, Acc + byte_size(term_to_binary(T, ?OPTS))).

decode_all([], Acc) -> Acc;
decode_all([B | Bs], Acc) -> decode_all(Bs, Acc + erlang:phash2(binary_to_term(B), 2)).

%% measure(F, TargetNs) -> {Iterations, NsPerOp, CpuNsPerOp}: like
%% testing.B, grow the count until one run takes TargetNs. The CPU time is
%% the VM's (statistics(runtime), in ms): run with one scheduler and no
%% busy waiting (+S 1 +sbwt none) for it to mean the work done, as
%% scripts/bench_otp_etf.sh does.
measure(F, Target) ->
    measure(F, Target, 1).

measure(F, Target, N) ->
    erlang:garbage_collect(),
    _ = statistics(runtime),
    T0 = erlang:monotonic_time(nanosecond),
    loop(F, N),
    Elapsed = erlang:monotonic_time(nanosecond) - T0,
    {_, CpuMs} = statistics(runtime),
    if
        Elapsed >= Target; N >= 1000000000 ->
            {N, Elapsed / N, CpuMs * 1.0e6 / N};
        true ->
            Next = if
                       Elapsed =< 0 -> N * 100;
                       true -> min(N * 100, max(N + 1, round(N * 1.2 * Target / Elapsed)))
                   end,
            measure(F, Target, Next)
    end.

loop(_, 0) -> ok;
loop(F, N) ->
    _ = F(),
    loop(F, N - 1).

report(Dir, Name, Size, {N, NsOp, CpuNsOp}) ->
    io:format("Benchmark~s/~s/otp\t~b\t~.1f ns/op\t~.2f MB/s\t~.1f cpu-ns/op\t~b B/item~n",
              [Dir, Name, N, NsOp, Size * 1000 / NsOp, CpuNsOp, Size]).
