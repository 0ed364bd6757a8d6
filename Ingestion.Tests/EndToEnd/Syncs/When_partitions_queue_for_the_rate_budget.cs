using System.Diagnostics;
using Ingestion.Platform.Database;
using Ingestion.Platform.Sources;
using Ingestion.Tests.Infrastructure;
using Ingestion.Workers.Syncs;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingestion.Tests.EndToEnd.Syncs;

/// <summary>
/// The shared rate budget's slots on a real PostgreSQL (a database of its own, no hosts): partitions
/// of two workers that ask at once get slots in order, ahead of time, evenly spaced and never more
/// than a policy allows in any window; a slot too far ahead is not taken; and the log of grants keeps
/// only what a window still counts, also for keys nothing asks on any more.
/// </summary>
public sealed class When_partitions_queue_for_the_rate_budget
{
    private static readonly RateLimitPolicy TenASecond = new(10, 1);

    private Sandbox _sandbox = null!;
    private RateBudget _first = null!;
    private RateBudget _second = null!;
    private SourceCatalog _catalog = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _sandbox = await MigratedSandbox.CreateAsync("slots");
        _first = new RateBudget(_sandbox.Db);
        _second = new RateBudget(_sandbox.Db);
        _catalog = new SourceCatalog(_sandbox.Db, new SourceSecrets(Options.Create(new SourceOptions { SecretKey = Keys.SourcesSecretKey })));
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _first.Dispose();
        _second.Dispose();
        await _sandbox.DisposeAsync();
    }

    [Test]
    public async Task Should_give_sixteen_partitions_of_two_workers_evenly_spaced_slots_within_the_policy()
    {
        var key = "key-" + Guid.NewGuid();

        // Sixteen partitions, eight on each worker, ask at once: each gets a slot of its own, ahead of time.
        var slots = await Task.WhenAll(Enumerable.Range(0, 16)
            .Select(i => (i % 2 == 0 ? _first : _second).ReserveAsync(key, [TenASecond], RateBudget.Lead, CancellationToken.None)));

        Assert.That(slots.Select(s => s.Reserved), Is.All.True, "1.6 s of slots lie within the lead");
        var times = await GrantsAsync(key);
        Assert.That(times, Has.Count.EqualTo(16));
        // Each grant lasts its tolerance and its worker's uncertainty about PostgreSQL's clock (its slack, stored as its end): the
        // pace is the window, the margin and the slack over ten; a grant after a longer one may wait the difference for its end.
        var slacks = await SlacksAsync(key);
        var spread = slacks.Max() - slacks.Min();
        for (var i = 1; i < times.Count; i++)
        {
            var spacing = (TimeSpan.FromSeconds(1) + RateBudget.Margin + slacks[i]) / 10;
            Assert.That(times[i] - times[i - 1], Is.InRange(spacing - TimeSpan.FromMilliseconds(0.01), spacing + spread + TimeSpan.FromMilliseconds(1)),
                $"slot {i} follows the one before by the policy's even spacing: the full rate, no burst");
        }

        for (var i = 10; i < times.Count; i++)
        {
            Assert.That(times[i] - times[i - 10], Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(1) + RateBudget.Margin),
                "never more than ten in any second and the margin");
        }
    }

    [Test]
    public async Task Should_not_take_a_slot_beyond_the_lead_but_say_when_it_comes()
    {
        var key = "key-" + Guid.NewGuid();
        var policy = new RateLimitPolicy(2, 60);
        Assert.That((await _first.ReserveAsync(key, [policy], RateBudget.Lead, CancellationToken.None)).Reserved, Is.True);
        Assert.That((await _first.ReserveAsync(key, [policy], RateBudget.Lead, CancellationToken.None)).Reserved, Is.True);

        var third = await _second.ReserveAsync(key, [policy], RateBudget.Lead, CancellationToken.None);

        Assert.That(third.Reserved, Is.False);
        Assert.That(third.Wait, Is.InRange(TimeSpan.FromSeconds(58), TimeSpan.FromSeconds(61)), "the first of the two leaves the window in a minute");
        Assert.That(await GrantsAsync(key), Has.Count.EqualTo(2), "nothing taken for it");
    }

    [Test]
    public async Task Should_send_at_the_policys_pace_from_a_worker_far_from_the_database()
    {
        // Every answer of PostgreSQL reaches this worker 20 ms late: it knows PostgreSQL's clock to 20 ms, wider than the
        // tolerance, and a slot at PostgreSQL's now has passed when its answer arrives.
        var direct = new NpgsqlConnectionStringBuilder(_sandbox.ConnectionString);
        await using var proxy = new TcpProxy(direct.Host!, direct.Port) { AnswerDelay = TimeSpan.FromMilliseconds(20) };
        await using var distant = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(_sandbox.ConnectionString)
        {
            Host = "127.0.0.1", Port = proxy.Port,
        }.ConnectionString);
        using var budget = new RateBudget(distant);
        var key = "key-" + Guid.NewGuid();

        var sent = new List<long>();
        var letGo = 0;
        while (sent.Count < 12 && letGo < 30)
        {
            var slot = await budget.ReserveAsync(key, [TenASecond], RateBudget.Lead, CancellationToken.None);
            Assert.That(slot.Reserved, Is.True);
            if (await budget.WaitForAsync(key, slot, CancellationToken.None))
            {
                sent.Add(Stopwatch.GetTimestamp());
            }
            else
            {
                letGo++;
            }
        }

        Assert.That(sent, Has.Count.EqualTo(12), $"requests go out ({letGo} slots let go)");
        for (var i = 10; i < sent.Count; i++)
        {
            Assert.That(Stopwatch.GetElapsedTime(sent[i - 10], sent[i]), Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(1)),
                "never more than ten sent in any second");
        }
    }

    [Test]
    public async Task Should_not_send_a_slot_reserved_ahead_once_another_worker_hears_of_a_pause()
    {
        var key = "key-" + Guid.NewGuid();
        BudgetSlot ahead = default;
        for (var i = 0; i < 5; i++)
        {
            ahead = await _first.ReserveAsync(key, [TenASecond], RateBudget.Lead, CancellationToken.None);
        }

        Assert.That(ahead.Reserved && ahead.Wait > TimeSpan.FromMilliseconds(300), Is.True, "the fifth slot lies ahead: " + ahead);

        // The other worker's request meets a 429 with Retry-After: 5.
        var now = DateTimeOffset.UtcNow;
        await _second.ObserveAsync(key, [TenASecond], new RateSignal(null, null, null, null, now.AddSeconds(5)), now, refused: true, CancellationToken.None);

        Assert.That(await _first.WaitForAsync(key, ahead, CancellationToken.None), Is.False, "the pause holds the slot taken before it");
        var next = await _first.ReserveAsync(key, [TenASecond], RateBudget.Lead, CancellationToken.None);
        Assert.That(next.Reserved, Is.False);
        Assert.That(next.Wait, Is.GreaterThan(TimeSpan.FromSeconds(4)), "the next slot is after the pause");
    }

    [Test]
    public async Task Should_delete_a_keys_grants_once_no_window_counts_them()
    {
        var key = "key-" + Guid.NewGuid();
        Assert.That(await _first.TryTakeAsync(key, [TenASecond], CancellationToken.None), Is.EqualTo(TimeSpan.Zero));
        await _sandbox.ExecuteAsync("update ingestion.rate_grants set at = at - @ago, ends = ends - @ago where budget_key = @key",
            ("ago", RateBudget.AnswerLife + TimeSpan.FromSeconds(2)), ("key", key));

        Assert.That(await _first.TryTakeAsync(key, [TenASecond], CancellationToken.None), Is.EqualTo(TimeSpan.Zero));

        Assert.That(await GrantsAsync(key), Has.Count.EqualTo(1),
            "the grant took away the one its one-second window no longer counts, nor an answer however late");
    }

    [Test]
    public async Task Should_sweep_the_grants_of_keys_nothing_asks_on_any_more()
    {
        // A source allowed three an hour; and a key whose source is gone.
        var tenant = "slots-" + Guid.NewGuid().ToString("N")[..8];
        await _catalog.CreateAsync(tenant, Source("hourly", new RateLimitPolicy(3, 3600)), "a-credential", CancellationToken.None);
        var hourly = (await _catalog.FindAsync(tenant, "hourly", CancellationToken.None))!.BudgetKey;
        var orphan = "key-" + Guid.NewGuid();
        await _sandbox.ExecuteAsync("""
            insert into ingestion.rate_grants (budget_key, at) values
                (@hourly, now() - interval '2 hours'), (@hourly, now() - interval '10 minutes'), (@orphan, now() - interval '1 minute')
            """, ("hourly", hourly), ("orphan", orphan));

        await _first.ForgetOldGrantsAsync(CancellationToken.None);

        Assert.That(await GrantsAsync(hourly), Has.Count.EqualTo(1), "the hour's grant stays, the one from two hours ago goes");
        Assert.That(await GrantsAsync(orphan), Is.Empty, "no policy counts on a key without sources");
    }

    private async Task<List<TimeSpan>> SlacksAsync(string key)
    {
        var slacks = new List<TimeSpan>();
        await using var command = _sandbox.Db.CreateCommand("select ends - at from ingestion.rate_grants where budget_key = @key order by at");
        command.Parameters.AddWithValue("key", key);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            slacks.Add(reader.GetTimeSpan(0));
        }

        return slacks;
    }

    private async Task<List<DateTime>> GrantsAsync(string key)
    {
        var times = new List<DateTime>();
        await using var command = _sandbox.Db.CreateCommand("select at from ingestion.rate_grants where budget_key = @key order by at");
        command.Parameters.AddWithValue("key", key);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            times.Add(reader.GetDateTime(0));
        }

        return times;
    }

    // Registered straight in the catalog: the budget needs the source's row and policies, not its dataset or a reachable upstream.
    private static SourceDefinition Source(string name, params RateLimitPolicy[] policies) => new(name, name,
        new SourceRequest("http://127.0.0.1:9/", "/v1/events"),
        new SourceAuth(SourceAuthPlacement.Header, "Authorization", "Bearer "),
        new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.meta.next_cursor", CursorParameter: "cursor", PageSize: 25),
        new SourceRecords("$.data", new Dictionary<string, string> { ["id"] = "$.id" }),
        new SourceRateLimit(policies));
}
