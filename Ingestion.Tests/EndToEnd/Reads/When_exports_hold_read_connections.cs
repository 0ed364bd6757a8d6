using System.Net;
using Ingestion.Tests.Infrastructure;
using Npgsql;

namespace Ingestion.Tests.EndToEnd.Reads;

/// <summary>
/// An API whose read pool has eight connections, of which exports (NDJSON, CSV) may hold five, two per tenant, and one
/// tenant's reads four; three tenants. Reads are held open by a lock another session keeps on their tables, as slow
/// clients or long scans would hold them. One export more is refused at once (429 when its tenant holds its two, 503
/// when the instance holds its five) and pages are still served; a tenant's fifth read waits for one of its four, then
/// is a 429; when two tenants' reads hold every connection, the next read waits <c>Reads:ConnectionWait</c> and is told
/// the service is busy, not that PostgreSQL is down. Once the lock goes, every held read finishes whole, and the tenant
/// whose reads were held is served again (its permits came back).
/// </summary>
public sealed class When_exports_hold_read_connections
{
    private const int Rows = 50;
    private const string Initech = "test-initech-key-000000001";
    private Deployment _stack = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _stack = await Deployment.StartAsync(TestRun.Servers, "exports", new Dictionary<string, string>
    {
        ["Tenancy__Tenants__2__Id"] = "initech",
        ["Tenancy__Tenants__2__ApiKeys__0"] = Initech,
        ["Tenancy__Tenants__2__WebhookSecret"] = "initech-webhook-secret-for-tests",
        ["Reads__MaxConnections"] = "8",
        ["Reads__WarmConnections"] = "8",
        ["Reads__ExportsInFlight"] = "5",
        ["Reads__ExportsInFlightPerTenant"] = "2",
        ["Reads__ConcurrentReadsPerTenant"] = "4",
        ["Reads__ConnectionWait"] = "00:00:01",
    }, workers: 0);

    [OneTimeTearDown]
    public async Task StopAsync() => await _stack.DisposeAsync();

    [Test]
    public async Task Should_refuse_exports_past_their_limits_and_keep_serving_pages()
    {
        using var acme = _stack.Client(Keys.Acme);
        using var globex = _stack.Client(Keys.Globex);
        using var initech = _stack.Client(Initech);
        var (a1, a2, free) = (await DatasetAsync(acme, "acme"), await DatasetAsync(acme, "acme"), await DatasetAsync(acme, "acme"));
        var (g1, g2) = (await DatasetAsync(globex, "globex"), await DatasetAsync(globex, "globex"));
        var (i1, i2) = (await DatasetAsync(initech, "initech"), await DatasetAsync(initech, "initech"));

        await using var holder = await _stack.Sandbox.Db.OpenConnectionAsync();
        await using var locks = await holder.BeginTransactionAsync();
        await LockAsync(holder, locks, ("acme", a1), ("acme", a2), ("globex", g1), ("globex", g2), ("initech", i1));
        Task<HttpResponseMessage>[] held =
        [
            acme.GetAsync($"/v1/datasets/{a1}/rows.csv"), acme.ReadAsync($"/v1/datasets/{a2}/rows", "application/x-ndjson"),
            globex.GetAsync($"/v1/datasets/{g1}/rows.csv"), globex.GetAsync($"/v1/datasets/{g2}/rows.csv"),
            initech.GetAsync($"/v1/datasets/{i1}/rows.csv"),
        ];
        await WaitForLockedReadsAsync(5);

        using (var tenantOver = await acme.GetAsync($"/v1/datasets/{free}/rows.csv"))
        {
            await AssertRefusedAsync(tenantOver, HttpStatusCode.TooManyRequests, "Too many exports at once", 5);
        }

        using (var instanceOver = await initech.ReadAsync($"/v1/datasets/{i2}/rows", "application/x-ndjson"))
        {
            await AssertRefusedAsync(instanceOver, HttpStatusCode.ServiceUnavailable, "Too many exports on this instance", 5);
        }

        using (var page = await acme.GetAsync($"/v1/datasets/{free}/rows?limit=10"))
        {
            Assert.That(page.StatusCode, Is.EqualTo(HttpStatusCode.OK), "a page finds a connection exports may not take");
        }

        await locks.RollbackAsync();
        foreach (var export in held)
        {
            await AssertWholeAsync(await export);
        }

        using var now = await initech.GetAsync($"/v1/datasets/{i2}/rows.csv");
        await AssertWholeAsync(now);
    }

    [Test]
    public async Task Should_queue_a_tenant_s_reads_past_its_limit_and_answer_busy_when_every_connection_stays_held()
    {
        using var acme = _stack.Client(Keys.Acme);
        using var globex = _stack.Client(Keys.Globex);
        using var initech = _stack.Client(Initech);
        var (locked, free) = (await DatasetAsync(acme, "acme"), await DatasetAsync(acme, "acme"));
        var theirs = await DatasetAsync(globex, "globex");
        var initechs = await DatasetAsync(initech, "initech");

        await using var holder = await _stack.Sandbox.Db.OpenConnectionAsync();
        await using var locks = await holder.BeginTransactionAsync();
        await LockAsync(holder, locks, ("acme", locked), ("globex", theirs));
        var held = Enumerable.Range(0, 4).Select(_ => acme.GetAsync($"/v1/datasets/{locked}/rows?limit=100")).ToList();
        await WaitForLockedReadsAsync(4);

        using (var tenantOver = await acme.GetAsync($"/v1/datasets/{free}/rows?limit=10"))
        {
            await AssertRefusedAsync(tenantOver, HttpStatusCode.TooManyRequests, "Too many reads at once", 1);
            Assert.That(tenantOver.Headers.Contains("RateLimit"), Is.False, "not the budget's refusal: no quota fields");
        }

        held.AddRange(Enumerable.Range(0, 4).Select(_ => globex.GetAsync($"/v1/datasets/{theirs}/rows?limit=100")));
        await WaitForLockedReadsAsync(8);
        using (var busy = await initech.GetAsync($"/v1/datasets/{initechs}/rows.csv"))
        {
            await AssertRefusedAsync(busy, HttpStatusCode.ServiceUnavailable, "The service is busy", 1);
        }

        await locks.RollbackAsync();
        foreach (var read in held)
        {
            await AssertWholeAsync(await read);
        }

        using var served = await initech.GetAsync($"/v1/datasets/{initechs}/rows?limit=10");
        Assert.That(served.StatusCode, Is.EqualTo(HttpStatusCode.OK), "served again once connections are free");

        // Acme's four permits came back: four reads of its own at once are served again.
        var again = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => acme.GetAsync($"/v1/datasets/{free}/rows?limit=10")));
        Assert.That(again.Select(r => r.StatusCode), Is.All.EqualTo(HttpStatusCode.OK));
        foreach (var response in again)
        {
            response.Dispose();
        }
    }

    private async Task<string> DatasetAsync(HttpClient client, string tenant)
    {
        var name = "held_" + Guid.NewGuid().ToString("N")[..8];
        await client.CreateDatasetAsync(When_dataset_rows_are_read.Definition(name));
        await _stack.Sandbox.ExecuteAsync($"""
            insert into tenant_{tenant}."{name}" (id, name, at, note) select g, 'item', now(), 'n' from generate_series(1, {Rows}) g
            """);
        return name;
    }

    private static async Task LockAsync(NpgsqlConnection holder, NpgsqlTransaction transaction, params (string Tenant, string Dataset)[] tables)
    {
        foreach (var (tenant, dataset) in tables)
        {
            await using var lockTable = new NpgsqlCommand($"lock table tenant_{tenant}.\"{dataset}\" in access exclusive mode", holder,
                transaction);
            await lockTable.ExecuteNonQueryAsync();
        }
    }

    /// <summary>Waits until this many of the API's read connections wait for a lock: each holds its connection.</summary>
    private async Task WaitForLockedReadsAsync(int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await _stack.Sandbox.ScalarAsync<long>("""
                   select count(*) from pg_stat_activity
                   where datname = current_database() and application_name like '%-reads' and wait_event_type = 'Lock'
                   """) < count)
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), $"waited 30 s for {count} reads waiting on the lock");
            await Task.Delay(50);
        }
    }

    private static async Task AssertRefusedAsync(HttpResponseMessage response, HttpStatusCode status, string title, int retryAfterSeconds)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(status), body);
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"), body);
        Assert.That((await response.ProblemAsync())["title"]!.GetValue<string>(), Is.EqualTo(title));
        Assert.That(response.Headers.RetryAfter?.Delta, Is.EqualTo(TimeSpan.FromSeconds(retryAfterSeconds)));
        Assert.That(response.Headers.ETag, Is.Null, "a refusal carries no tag to revalidate");
        Assert.That(body, Does.Not.Contain("unavailable").And.Not.Contain("Npgsql").And.Not.Contain("Exception"), "no stack trace, no blame on the database");
    }

    /// <summary>A read that was held finishes whole: every row (a CSV export's header line too, a page's rows in its JSON).</summary>
    private static async Task AssertWholeAsync(HttpResponseMessage response)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), body);
            var lines = body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
            var media = response.Content.Headers.ContentType?.MediaType;
            Assert.That(media == "application/json" ? System.Text.Json.Nodes.JsonNode.Parse(body)!["rows"]!.AsArray().Count : lines,
                Is.EqualTo(media == "text/csv" ? Rows + 1 : Rows), body.Length > 300 ? body[..300] : body);
        }
    }
}
