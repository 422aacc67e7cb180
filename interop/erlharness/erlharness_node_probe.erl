%% erlharness_node_probe: the Erlang side of erlharness.Node.
%%
%% erlharness starts a distributed erl VM whose -eval compiles this file and
%% calls start/1 with the TCP port of the Go test. The probe connects back
%% and serves requests over that socket ({packet,4}, external term format):
%%
%%   {Id, apply, Module, Function, Args}
%%   {Id, eval, ExprsBinary, [{VarAtom, Value}]}
%%   {Id, load, SourceOrBeamPath, IncludeDirs}
%%
%% answering {Id, ok, Value} or {Id, error, {Class, Reason, Stacktrace}}.
%% The socket is not the distribution link, so tests can drive the node
%% while distribution is broken. When the socket closes (the test ended or
%% crashed) the VM halts, so no node outlives its test.
-module(erlharness_node_probe).

-export([start/1, eval/2, load/2]).

start(CtlPort) ->
    Parent = self(),
    Ctl = spawn(fun() -> control(Parent, CtlPort) end),
    receive
        {Ctl, connected} -> ok
    after 10000 -> erlang:halt(3)
    end.

control(Parent, CtlPort) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, CtlPort,
                              [binary, {packet, 4}, {active, true}, {nodelay, true}]),
    Release = erlang:system_info(otp_release),
    ok = gen_tcp:send(S, term_to_binary({ready, node(), list_to_binary(Release)})),
    Parent ! {self(), connected},
    loop(S).

loop(S) ->
    receive
        {tcp, S, Bin} ->
            Self = self(),
            Req = binary_to_term(Bin),
            spawn(fun() -> Self ! {reply, run(Req)} end),
            loop(S);
        {reply, R} ->
            ok = gen_tcp:send(S, term_to_binary(R)),
            loop(S);
        {tcp_closed, S} ->
            erlang:halt(0);
        {tcp_error, S, _} ->
            erlang:halt(0)
    end.

run(Req) ->
    Id = element(1, Req),
    try {Id, ok, handle(Req)}
    catch C:R:St -> {Id, error, {C, R, St}}
    end.

handle({_, apply, M, F, A}) -> apply(M, F, A);
handle({_, eval, Src, Bindings}) -> eval(Src, Bindings);
handle({_, load, Path, Incs}) -> load(binary_to_list(Path), [binary_to_list(I) || I <- Incs]).

%% eval/2 evaluates a sequence of expressions, like the shell, with the
%% given variable bindings; the value of the last expression is returned.
eval(Src, Bindings) ->
    S = unicode:characters_to_list(Src),
    S1 = case lists:reverse(string:trim(S)) of
             [$. | _] -> S;
             _ -> S ++ "."
         end,
    Toks = case erl_scan:string(S1) of
               {ok, T, _} -> T;
               {error, E, _} -> erlang:error({scan_error, E})
           end,
    Exprs = case erl_parse:parse_exprs(Toks) of
                {ok, Es} -> Es;
                {error, PE} -> erlang:error({parse_error, PE})
            end,
    B = lists:foldl(fun({K, V}, Acc) -> erl_eval:add_binding(K, V, Acc) end,
                    erl_eval:new_bindings(), Bindings),
    {value, V, _} = erl_eval:exprs(Exprs, B),
    V.

%% load/2 compiles a .erl file on this node (so it matches this node's
%% release) or reads a .beam file, and loads the module.
load(Path, Incs) ->
    case filename:extension(Path) of
        ".erl" ->
            Opts = [binary, return_errors, return_warnings | [{i, I} || I <- Incs]],
            case compile:file(Path, Opts) of
                {ok, M, Bin, _Warnings} -> loaded(code:load_binary(M, Path, Bin));
                {error, Errors, _Warnings} -> erlang:error({compile_error, Errors})
            end;
        ".beam" ->
            {ok, Bin} = file:read_file(Path),
            M = list_to_atom(filename:basename(Path, ".beam")),
            loaded(code:load_binary(M, Path, Bin));
        Ext ->
            erlang:error({unknown_extension, Ext})
    end.

loaded({module, M}) -> M;
loaded({error, What}) -> erlang:error({load_failed, What}).
