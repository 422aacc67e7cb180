%% harness_probe: misbehaving programs for testing barrelgo's erlharness
%% itself (what happens when erl never replies, or dies).
%%
%% Start:  erl -noinput -pa EBIN -run harness_probe main Mode
%%   sink  reads {packet,4} frames from stdin and never replies; halts on eof
%%   fail  writes a line to stderr and halts with status 3 on the first frame
-module(harness_probe).

-export([main/1]).

main([Mode]) when is_atom(Mode) ->
    main([atom_to_list(Mode)]);
main([Mode]) ->
    Port = open_port({fd, 0, 1}, [binary, {packet, 4}, eof]),
    loop(Port, Mode).

loop(Port, Mode) ->
    receive
        {Port, {data, _}} when Mode =:= "sink" ->
            loop(Port, Mode);
        {Port, {data, _}} when Mode =:= "fail" ->
            io:format(standard_error, "harness_probe: failing on purpose~n", []),
            erlang:halt(3);
        {Port, eof} ->
            erlang:halt(0)
    end.
