# The Elixir side of interop/elixir_test.go: a GenServer the Go node calls,
# and functions the Go node runs over rpc to make Elixir call it back.
# Started as `elixir --name N --cookie C barrelgo_probe.exs`; prints
# "ex_probe ready" once its name is registered.
defmodule BarrelgoProbe do
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, nil, name: :ex_probe)

  @impl true
  def init(nil), do: {:ok, nil}

  @impl true
  def handle_call({:echo, term}, _from, state), do: {:reply, {:ex_echo, term}, state}

  @impl true
  def handle_cast({:notify, pid, term}, state) do
    send(pid, {:ex_casted, term})
    {:noreply, state}
  end

  # Elixir calling a Go gen_server: {:exit, reason} when the call exits.
  def call_go(node, name, request) do
    GenServer.call({name, node}, request, 5000)
  catch
    :exit, reason -> {:exit, reason}
  end

  def erpc_go(node, mod, fun, args), do: :erpc.call(node, mod, fun, args, 5000)

  # Values Elixir programs send: structs, ranges, keyword lists, charlists,
  # dates, bignums, nested maps.
  def sample do
    %{
      uri: URI.parse("https://example.com:8443/p?q=1"),
      range: 1..10//2,
      date: ~D[2026-11-26],
      time: ~T[12:34:56.789],
      keyword: [a: 1, b: "two"],
      tuple: {:ok, 1.5},
      charlist: ~c"abc",
      binary: <<1, 2, 3>>,
      bignum: 123_456_789_012_345_678_901_234_567_890,
      mapset: MapSet.new([:x, :y]),
      nested: %{"string key" => [%{}, [], {}], 42 => :answer}
    }
  end

  def same?(term), do: term === sample()
end

{:ok, _} = BarrelgoProbe.start_link(nil)
IO.puts("ex_probe ready")
Process.sleep(:infinity)
