using System.Net;
using Ingestion.Tests.Infrastructure;
using Npgsql;

namespace Ingestion.Tests.EndToEnd.Reads;

/// <summary>
/// An API whose pages may take one second, reading a dataset whose table another session holds
/// locked: the page waits past its timeout, and the client is told that the query was too slow,
/// not that PostgreSQL is down.
/// </summary>
public sealed class When_a_page_runs_past_its_timeout
{
    private Deployment _stack = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _stack = await Deployment.StartAsync(TestRun.Servers, "timeout", new Dictionary<string, string>
    {
        ["Reads__PageTimeout"] = "00:00:01",
    }, workers: 0);

    [OneTimeTearDown]
    public async Task StopAsync() => await _stack.DisposeAsync();

    [Test]
    public async Task Should_answer_that_the_query_took_too_long_without_a_cacheable_tag()
    {
        using var acme = _stack.Client(Keys.Acme);
        var name = "slow_" + Guid.NewGuid().ToString("N")[..8];
        await acme.CreateDatasetAsync(When_dataset_rows_are_read.Definition(name));
        var path = $"/v1/datasets/{name}/rows?limit=10";

        await using (var holder = await _stack.Sandbox.Db.OpenConnectionAsync())
        {
            await using var transaction = await holder.BeginTransactionAsync();
            await using (var lockTable = new NpgsqlCommand($"lock table tenant_acme.\"{name}\" in access exclusive mode", holder, transaction))
            {
                await lockTable.ExecuteNonQueryAsync();
            }

            using var slow = await acme.GetAsync(path);
            var body = await slow.Content.ReadAsStringAsync();
            Assert.That(slow.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), body);
            var problem = await slow.ProblemAsync();
            Assert.That(problem["title"]!.GetValue<string>(), Is.EqualTo("The query took too long"));
            Assert.That(problem["detail"]!.GetValue<string>(), Does.Contain("longer than the page timeout (1 s)").And.Contain("add an index"));
            Assert.That(body, Does.Not.Contain("unavailable").And.Not.Contain("Npgsql").And.Not.Contain(" at "), "no stack trace, no blame on the database");
            Assert.That(slow.Headers.ETag, Is.Null, "a timed-out answer carries no tag to revalidate");
            Assert.That(slow.Headers.CacheControl!.NoStore, Is.True);
            await transaction.RollbackAsync();
        }

        using var served = await acme.GetAsync(path);
        Assert.That(served.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the same page once the table is free");
    }

    [Test]
    public async Task Should_answer_the_same_problem_when_the_query_stalls_in_the_middle_of_a_page()
    {
        using var acme = _stack.Client(Keys.Acme);
        var name = "stall_" + Guid.NewGuid().ToString("N")[..8];
        await acme.CreateDatasetAsync(When_dataset_rows_are_read.Definition(name));

        // Rows stream in key order through the key's index; the 300th takes 3 s, after the server has
        // sent the first ones: the page stalls mid-way, past its timeout.
        await _stack.Sandbox.ExecuteAsync($"""
            insert into tenant_acme."{name}" (id, name, at, note)
            select g, 'item', now(), repeat('x', 100) from generate_series(1, 100000) g;
            analyze tenant_acme."{name}";
            alter table tenant_acme."{name}" rename to "{name}_rows";
            create view tenant_acme."{name}" as
                select r.* from tenant_acme."{name}_rows" r
                cross join lateral (select case when r.id = 300 then pg_sleep(3) end) stall;
            """);

        using var stalled = await acme.GetAsync($"/v1/datasets/{name}/rows?limit=1000");
        var body = await stalled.Content.ReadAsStringAsync();

        Assert.That(stalled.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), body);
        var problem = await stalled.ProblemAsync();
        Assert.That(problem["title"]!.GetValue<string>(), Is.EqualTo("The query took too long"));
        Assert.That(problem["detail"]!.GetValue<string>(), Does.Contain("too expensive").And.Contain("limit=1000"));
        Assert.That(problem["limit"]!.GetValue<int>(), Is.EqualTo(1000));
        Assert.That(body, Does.Not.Contain("\"rows\""), "no half page before the problem");
    }
}
