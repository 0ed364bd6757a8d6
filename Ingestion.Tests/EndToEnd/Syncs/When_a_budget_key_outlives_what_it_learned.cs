using Ingestion.Platform.Database;
using Ingestion.Platform.Sources;
using Ingestion.Tests.Infrastructure;
using Ingestion.Workers.Syncs;
using Microsoft.Extensions.Options;

namespace Ingestion.Tests.EndToEnd.Syncs;

/// <summary>
/// The shared rate budget on a real PostgreSQL (a database of its own, no hosts): a policy counts on
/// its budget key for as long as a source declares it, however long since that source's last request;
/// a limit the upstream said lapses once no response has said it for its window and the lapse margin; and a block the upstream asked for lasts as long as
/// it asked, measured on PostgreSQL's clock whatever the worker's clock says.
/// </summary>
public sealed class When_a_budget_key_outlives_what_it_learned
{
    private static readonly RateLimitPolicy Generous = new(1000, 1);

    private const string Secret = "a-shared-credential";

    private Sandbox _sandbox = null!;
    private RateBudget _budget = null!;
    private SourceCatalog _catalog = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _sandbox = await MigratedSandbox.CreateAsync("budget");
        _budget = new RateBudget(_sandbox.Db);
        _catalog = new SourceCatalog(_sandbox.Db, new SourceSecrets(Options.Create(new SourceOptions { SecretKey = Keys.SourcesSecretKey })));
    }

    [OneTimeTearDown]
    public async Task StopAsync() => await _sandbox.DisposeAsync();

    [Test]
    public async Task Should_hold_every_source_on_the_credential_to_a_policy_its_source_declares_however_seldom_it_syncs()
    {
        // The daily source describes the credential's real limit; the other, on the same credential, declares a fast one.
        var tenant = NewTenant();
        await _catalog.CreateAsync(tenant, Source("daily", new RateLimitPolicy(3, 3600)), Secret, CancellationToken.None);
        await _catalog.CreateAsync(tenant, Source("fast", Generous), Secret, CancellationToken.None);
        var key = await KeyAsync(tenant, "daily");
        Assert.That(await KeyAsync(tenant, "fast"), Is.EqualTo(key), "one credential, one budget");

        // The daily source last asked yesterday; the fast one takes two in the hour, minutes ago.
        Assert.That(await _budget.TryTakeAsync(key, [Generous], CancellationToken.None), Is.EqualTo(TimeSpan.Zero));
        Assert.That(await _budget.TryTakeAsync(key, [Generous], CancellationToken.None), Is.EqualTo(TimeSpan.Zero));
        await _sandbox.ExecuteAsync("update ingestion.rate_grants set at = at - @ago where budget_key = @key",
            ("ago", RateBudget.Lapse + TimeSpan.FromMinutes(1)), ("key", key));

        Assert.That(await _budget.TryTakeAsync(key, [Generous], CancellationToken.None), Is.EqualTo(TimeSpan.Zero), "the third of three an hour");
        Assert.That(await _sandbox.ScalarAsync<long>("select count(*) from ingestion.rate_grants where budget_key = @key", ("key", key)),
            Is.EqualTo(3), "the grant kept the hour's grants the daily source's policy counts");
        Assert.That(await _budget.TryTakeAsync(key, [Generous], CancellationToken.None), Is.GreaterThan(TimeSpan.FromMinutes(50)),
            "the fourth waits for the hour, though the fast source alone would allow it");
    }

    [Test]
    public async Task Should_stop_judging_by_a_policy_once_its_source_declares_another_or_is_deleted()
    {
        var tenant = NewTenant();
        await _catalog.CreateAsync(tenant, Source("strict", new RateLimitPolicy(1, 3600)), Secret, CancellationToken.None);
        var key = await KeyAsync(tenant, "strict");

        Assert.That(await _budget.TryTakeAsync(key, [Generous], CancellationToken.None), Is.EqualTo(TimeSpan.Zero));
        Assert.That(await _budget.TryTakeAsync(key, [Generous], CancellationToken.None), Is.GreaterThan(TimeSpan.Zero),
            "held to the strict source's one an hour");

        // A PUT replaces the source's policies.
        Assert.That(await _catalog.ReplaceAsync(tenant, Source("strict", new RateLimitPolicy(2, 3600)), null, CancellationToken.None), Is.True);
        Assert.That(await _budget.TryTakeAsync(key, [Generous], CancellationToken.None), Is.EqualTo(TimeSpan.Zero), "two an hour now");
        Assert.That(await _budget.TryTakeAsync(key, [Generous], CancellationToken.None), Is.GreaterThan(TimeSpan.Zero));

        // A DELETE removes them.
        Assert.That(await _catalog.DeleteAsync(tenant, "strict", CancellationToken.None), Is.True);
        Assert.That(await _budget.TryTakeAsync(key, [Generous], CancellationToken.None), Is.EqualTo(TimeSpan.Zero),
            "judged by the policies still declared");
        Assert.That(await _sandbox.ScalarAsync<long>("select count(*) from ingestion.rate_policies where budget_key = @key", ("key", key)),
            Is.Zero, "the deleted source's policies are gone");
    }

    [Test]
    public async Task Should_keep_a_learned_limit_while_the_upstream_says_it_and_let_it_lapse_after()
    {
        var key = "key-" + Guid.NewGuid();
        var now = DateTimeOffset.UtcNow;
        await _budget.ObserveAsync(key, [Generous], new RateSignal(1, 5, null, 1, null), now, refused: false, CancellationToken.None);

        Assert.That(await _budget.TryTakeAsync(key, [Generous], CancellationToken.None), Is.EqualTo(TimeSpan.Zero));
        Assert.That(await _budget.TryTakeAsync(key, [Generous], CancellationToken.None), Is.GreaterThan(TimeSpan.Zero),
            "the learned one request a second holds");

        await _sandbox.ExecuteAsync("update ingestion.rate_budgets set learned_at = learned_at - @ago where budget_key = @key",
            ("ago", RateBudget.Lapse + TimeSpan.FromSeconds(2)), ("key", key));

        Assert.That(await _budget.TryTakeAsync(key, [Generous], CancellationToken.None), Is.EqualTo(TimeSpan.Zero),
            "not said for its window and the margin: lapsed");
    }

    [Test]
    public async Task Should_block_for_as_long_as_the_upstream_asked_whatever_the_workers_clock_says()
    {
        var key = "key-" + Guid.NewGuid();

        // A worker whose clock is an hour behind reads "Retry-After: 3".
        var skewed = DateTimeOffset.UtcNow.AddHours(-1);
        await _budget.ObserveAsync(key, [Generous], new RateSignal(null, null, null, null, skewed.AddSeconds(3)), skewed, refused: false, CancellationToken.None);

        var wait = await _budget.TryTakeAsync(key, [Generous], CancellationToken.None);
        Assert.That(wait, Is.InRange(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3)), "three seconds from when it was said, on one clock");
    }

    [Test]
    public async Task Should_judge_each_policy_with_its_own_sources_margin()
    {
        // A source on the same network declares a 5 ms margin: its ten a second are kept 1.005 s apart, not the default 1.025.
        var tenant = NewTenant();
        var tenASecond = new RateLimitPolicy(10, 1);
        await _catalog.CreateAsync(tenant, Source("near", tenASecond) with { RateLimit = new SourceRateLimit([tenASecond], MarginMilliseconds: 5) },
            Secret, CancellationToken.None);
        var key = await KeyAsync(tenant, "near");
        var near = TimeSpan.FromMilliseconds(5);

        Assert.That(await EleventhAfterTenthLatestEndAsync(key, tenASecond, near), Is.EqualTo(TimeSpan.FromMilliseconds(1005)));

        // Another source on the credential, with a policy of its own, reaches the same upstream from far away: the margin is
        // the way's, so its 100 ms hold the near source's ten a second too.
        var hourly = new RateLimitPolicy(36_000, 3600);
        await _catalog.CreateAsync(tenant, Source("far", hourly) with { RateLimit = new SourceRateLimit([hourly], MarginMilliseconds: 100) },
            Secret, CancellationToken.None);
        Assert.That(await EleventhAfterTenthLatestEndAsync(key, tenASecond, near), Is.EqualTo(TimeSpan.FromMilliseconds(1100)));
    }

    /// <summary>
    /// Ten grants that went together half a second ago (so neither the pace after the latest nor the caller's round trip
    /// decides the next slot), then the next slot: how long after the tenth latest grant's end it lies.
    /// </summary>
    private async Task<TimeSpan> EleventhAfterTenthLatestEndAsync(string key, RateLimitPolicy policy, TimeSpan margin)
    {
        await _sandbox.ExecuteAsync("delete from ingestion.rate_grants where budget_key = @key", ("key", key));
        await PastGrants.WriteTenAsync(_sandbox, key, TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(1));
        var oldestEnd = await _sandbox.ScalarAsync<DateTime>("select min(ends) from ingestion.rate_grants where budget_key = @key", ("key", key));

        var slot = await _budget.ReserveAsync(key, [policy], margin, RateBudget.Lead, CancellationToken.None);

        Assert.That(slot.Reserved, Is.True);
        return slot.At - oldestEnd;
    }

    private static string NewTenant() => "budget-" + Guid.NewGuid().ToString("N")[..8];

    private async Task<string> KeyAsync(string tenant, string source) =>
        (await _catalog.FindAsync(tenant, source, CancellationToken.None))!.BudgetKey;

    // Registered straight in the catalog: the budget needs the source's row and policies, not its dataset or a reachable upstream.
    private static SourceDefinition Source(string name, params RateLimitPolicy[] policies) => new(name, name,
        new SourceRequest("http://127.0.0.1:9/", "/v1/events"),
        new SourceAuth(SourceAuthPlacement.Header, "Authorization", "Bearer "),
        new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.meta.next_cursor", CursorParameter: "cursor", PageSize: 25),
        new SourceRecords("$.data", new Dictionary<string, string> { ["id"] = "$.id" }),
        new SourceRateLimit(policies));
}
