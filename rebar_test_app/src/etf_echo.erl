%% etf_echo: an external-term-format echo server on stdin/stdout, used by
%% barrelgo's interop tests to have real OTP decode and encode terms.
%%
%% Start:  erl -noinput -pa EBIN -run etf_echo main [Option ...]
%%
%% Every request is one {packet,4} frame holding term_to_binary(Term) as the
%% Go side encoded it. The reply is one {packet,4} frame holding
%%
%%     term_to_binary({ok, Term, term_to_binary(Term, Opts)})
%%
%% so the caller gets both OTP's decoding (re-encoded by OTP's default
%% encoder in the outer envelope) and OTP's own bytes for the term under the
%% options Opts chosen on the command line. Input binary_to_term rejects is
%% answered with {error, Reason}; nothing crashes the loop. End of file on
%% stdin stops the VM with status 0.
%%
%% Options (any number, in any order; none means term_to_binary/1):
%%   deterministic      -> deterministic
%%   minor0|minor1|minor2 -> {minor_version, N}
%%   compressed         -> compressed
%%   safe               -> binary_to_term(Bin, [safe]) for the request
-module(etf_echo).

-export([main/0, main/1, handle/3]).

main() ->
    main([]).

%% -run passes strings, -s passes atoms; accept both.
main(Args) ->
    quiet_stdout(),
    {EncOpts, DecOpts} = parse_opts(Args, [], []),
    Port = open_port({fd, 0, 1}, [binary, {packet, 4}, eof]),
    loop(Port, EncOpts, DecOpts).

loop(Port, EncOpts, DecOpts) ->
    receive
        {Port, {data, Data}} ->
            Reply = handle(Data, EncOpts, DecOpts),
            true = port_command(Port, Reply),
            loop(Port, EncOpts, DecOpts);
        {Port, eof} ->
            erlang:halt(0);
        _Other ->
            loop(Port, EncOpts, DecOpts)
    end.

%% handle/3 is exported so the same logic can be exercised from a shell.
handle(Data, EncOpts, DecOpts) ->
    Reply =
        try binary_to_term(Data, DecOpts) of
            Term ->
                {ok, Term, term_to_binary(Term, EncOpts)}
        catch
            Class:Reason ->
                {error, {Class, Reason}}
        end,
    term_to_binary(Reply).

parse_opts([], Enc, Dec) ->
    {lists:reverse(Enc), Dec};
parse_opts([A | Rest], Enc, Dec) when is_atom(A) ->
    parse_opts([atom_to_list(A) | Rest], Enc, Dec);
parse_opts(["deterministic" | Rest], Enc, Dec) ->
    parse_opts(Rest, [deterministic | Enc], Dec);
parse_opts(["compressed" | Rest], Enc, Dec) ->
    parse_opts(Rest, [compressed | Enc], Dec);
parse_opts(["minor" ++ N | Rest], Enc, Dec) ->
    parse_opts(Rest, [{minor_version, list_to_integer(N)} | Enc], Dec);
parse_opts(["safe" | Rest], Enc, Dec) ->
    parse_opts(Rest, Enc, [safe | Dec]);
parse_opts([Other | _], _Enc, _Dec) ->
    io:format(standard_error, "etf_echo: unknown option ~p~n", [Other]),
    erlang:halt(2).

%% Stdout carries the frames, so anything the VM would log there (crash
%% reports, warnings) must go to stderr instead.
quiet_stdout() ->
    _ = logger:remove_handler(default),
    ok = logger:add_handler(default, logger_std_h,
                            #{config => #{type => standard_error}}),
    ok.
