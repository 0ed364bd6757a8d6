using Ingestion.Platform.Database;
using Ingestion.Platform.Sources;
using Ingestion.Tests.Infrastructure;
using Ingestion.Workers.Syncs;
using Microsoft.Extensions.Options;

namespace Ingestion.Tests.EndToEnd.Syncs;

/// <summary>
/// The rate budget's grant sweep on a real PostgreSQL (a database of its own, no hosts), when a source's credential is
/// replaced while a turn of its sync runs: the turn goes on with the credential and the policy it read, so the sweep
/// leaves the old key's grants alone while a turn may still ask on it, and deletes them once none can.
/// </summary>
public sealed class When_a_source_changes_under_a_running_sync
{
    private static readonly RateLimitPolicy Hourly = new(3, 3600);

    private Sandbox _sandbox = null!;
    private RateBudget _budget = null!;
    private SourceCatalog _catalog = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _sandbox = await MigratedSandbox.CreateAsync("moving");
        _budget = new RateBudget(_sandbox.Db);
        _catalog = new SourceCatalog(_sandbox.Db, new SourceSecrets(Options.Create(new SourceOptions { SecretKey = Keys.SourcesSecretKey })));
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _budget.Dispose();
        await _sandbox.DisposeAsync();
    }

    [Test]
    public async Task Should_keep_the_old_credentials_grants_while_a_turn_that_read_it_may_still_ask()
    {
        var tenant = "moving-" + Guid.NewGuid().ToString("N")[..8];
        await _catalog.CreateAsync(tenant, Source(), "the-old-credential", CancellationToken.None);
        var old = (await _catalog.FindAsync(tenant, "events", CancellationToken.None))!.BudgetKey;

        // A turn read the source and spends its three an hour.
        for (var i = 0; i < 3; i++)
        {
            Assert.That(await _budget.TryTakeAsync(old, [Hourly], CancellationToken.None), Is.EqualTo(TimeSpan.Zero));
        }

        // A PUT gives the source another credential: no source declares a policy on the old key any more.
        Assert.That(await _catalog.ReplaceAsync(tenant, Source(), "the-new-credential", CancellationToken.None), Is.True);
        Assert.That((await _catalog.FindAsync(tenant, "events", CancellationToken.None))!.BudgetKey, Is.Not.EqualTo(old));

        var life = RateGrantSweep.TurnLife(new SyncOptions());
        await _budget.ForgetOldGrantsAsync(life, CancellationToken.None);
        Assert.That(await _budget.TryTakeAsync(old, [Hourly], CancellationToken.None), Is.GreaterThan(TimeSpan.FromMinutes(50)),
            "the running turn, still on the old credential, waits out its hour");

        // Once no turn can still ask on the old key, its grants go.
        await _sandbox.ExecuteAsync("update ingestion.rate_grants set at = at - @ago, ends = ends - @ago where budget_key = @key",
            ("ago", life + TimeSpan.FromMinutes(1)), ("key", old));
        await _budget.ForgetOldGrantsAsync(life, CancellationToken.None);
        Assert.That(await _sandbox.ScalarAsync<long>("select count(*) from ingestion.rate_grants where budget_key = @key", ("key", old)),
            Is.Zero);
    }

    // Registered straight in the catalog: the budget needs the source's row and policies, not its dataset or a reachable upstream.
    private static SourceDefinition Source() => new("events", "events",
        new SourceRequest("http://127.0.0.1:9/", "/v1/events"),
        new SourceAuth(SourceAuthPlacement.Header, "Authorization", "Bearer "),
        new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.meta.next_cursor", CursorParameter: "cursor", PageSize: 25),
        new SourceRecords("$.data", new Dictionary<string, string> { ["id"] = "$.id" }),
        new SourceRateLimit([Hourly]));
}
