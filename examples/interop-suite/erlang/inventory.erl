%% inventory: the Erlang service the example suite tests from Go. A
%% gen_server counting items; take/2 refuses to go below zero.
-module(inventory).
-behaviour(gen_server).

-export([start/0, stop/0, add/2, take/2, count/1]).
-export([init/1, handle_call/3, handle_cast/2]).

%% Not linked: the rpc process that starts it exits right away.
start() -> gen_server:start({local, inventory}, ?MODULE, #{}, []).
stop() -> gen_server:stop(inventory).

add(Item, N) -> gen_server:call(inventory, {add, Item, N}).
take(Item, N) -> gen_server:call(inventory, {take, Item, N}).
count(Item) -> gen_server:call(inventory, {count, Item}).

init(Items) -> {ok, Items}.

handle_call({add, Item, N}, _From, Items) when is_integer(N), N > 0 ->
    Total = maps:get(Item, Items, 0) + N,
    {reply, {ok, Total}, Items#{Item => Total}};
handle_call({take, Item, N}, _From, Items) when is_integer(N), N > 0 ->
    case maps:get(Item, Items, 0) of
        Have when Have >= N -> {reply, {ok, Have - N}, Items#{Item => Have - N}};
        Have -> {reply, {error, {insufficient, Have}}, Items}
    end;
handle_call({count, Item}, _From, Items) ->
    {reply, maps:get(Item, Items, 0), Items};
handle_call(Other, _From, Items) ->
    {reply, {error, {bad_request, Other}}, Items}.

handle_cast(_, Items) -> {noreply, Items}.
