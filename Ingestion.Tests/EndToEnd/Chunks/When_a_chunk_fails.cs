using System.Text;
using Ingestion.Tests.Infrastructure;
using static Ingestion.Tests.EndToEnd.Chunks.ChunkedLoads;

namespace Ingestion.Tests.EndToEnd.Chunks;

/// <summary>
/// PostgreSQL refuses a row of the last chunk (a trigger raises): the job fails with that reason
/// while the other chunks stay loaded. Once the cause is gone, a retry loads that chunk only.
/// One chunk in flight at a time, so that every chunk before the last has ended when it fails.
/// </summary>
public sealed class When_a_chunk_fails
{
    private const int Rows = 6000;
    private Deployment _deployment = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _deployment = await Deployment.StartAsync(TestRun.Servers, "chunkfail", new Dictionary<string, string>
    {
        ["Processing__ChunkBytes"] = "4096",
        ["Processing__ChunksInFlightPerJob"] = "1",
        ["Processing__BatchRows"] = "100",
    });

    [OneTimeTearDown]
    public async Task StopAsync() => await _deployment.DisposeAsync();

    [Test]
    public async Task Should_fail_with_the_chunk_s_reason_then_reload_only_that_chunk_on_retry()
    {
        using var acme = _deployment.Client(Keys.Acme);
        await CreateDatasetAsync(acme, "ledger",
            [new { name = "entry", type = "integer", required = true }, new { name = "note", type = "text" }]);
        await _deployment.Sandbox.ExecuteAsync($"""
            create table tenant_acme.refusals (entry integer primary key);
            create function tenant_acme.refuse() returns trigger language plpgsql as $$
            begin
                if exists (select 1 from tenant_acme.refusals r where r.entry = new.entry) then
                    raise exception 'entry % refused by the test', new.entry;
                end if;
                return new;
            end $$;
            create trigger refuse before insert on tenant_acme.ledger for each row execute function tenant_acme.refuse();
            insert into tenant_acme.refusals values ({Rows});
            """);
        var csv = new StringBuilder("entry,note\n");
        for (var i = 1; i <= Rows; i++)
        {
            csv.Append(i).Append(",note ").Append(i).Append('\n');
        }

        var jobId = await acme.StartUploadAsync("ledger", Encoding.UTF8.GetBytes(csv.ToString()));
        var failed = await acme.WaitForJobEndAsync(jobId, seconds: 120);

        Assert.That(failed["status"]!.GetValue<string>(), Is.EqualTo("failed"), failed.ToJsonString());
        Assert.That(failed["error"]!["message"]!.GetValue<string>(), Does.Contain($"entry {Rows} refused by the test"));
        var chunks = await ChunksAsync(_deployment, jobId);
        Assert.That(chunks, Is.GreaterThan(10));
        // The last chunk's batches before the refused row committed with its checkpoint: the line its last one ended.
        var committed = await _deployment.Sandbox.ScalarAsync<long>(
            "select line from ingestion.upload_chunks where job_id = @id order by chunk desc limit 1", ("id", jobId));
        var loadedBefore = await _deployment.Sandbox.ScalarAsync<long>("select count(*) from tenant_acme.ledger");
        Assert.That(loadedBefore, Is.EqualTo(committed - 1),
            "every chunk before the last is loaded, and the last up to its checkpoint (line n holds entry n - 1)");
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>("select max(entry)::bigint from tenant_acme.ledger"), Is.EqualTo(committed - 1));
        var before = await XminsAsync();

        await _deployment.Sandbox.ExecuteAsync("delete from tenant_acme.refusals");
        using (var retry = await acme.PostAsync($"/v1/jobs/{jobId}/retry", null))
        {
            Assert.That((int)retry.StatusCode, Is.EqualTo(202), await retry.Content.ReadAsStringAsync());
        }

        var job = await acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(120), "completed");
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>("select count(distinct entry) from tenant_acme.ledger"), Is.EqualTo(Rows));
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>("select count(*) from tenant_acme.ledger"), Is.EqualTo(Rows));
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(Rows));
        Assert.That(await XminsAsync(), Is.SupersetOf(before), "the rows of the chunks that had ended were not written again");
        var attempts = await _deployment.Sandbox.ScalarAsync<int[]>(
            "select array_agg(attempts order by chunk) from ingestion.upload_chunks where job_id = @id", ("id", jobId));
        Assert.That(attempts![..^1], Is.All.EqualTo(1), "the chunks that had ended were not taken again");
        Assert.That(attempts[^1], Is.EqualTo(2), "the failed chunk was loaded again");
    }

    private async Task<string[]> XminsAsync() =>
        await _deployment.Sandbox.ScalarAsync<string[]>("select array_agg(entry || ':' || xmin::text) from tenant_acme.ledger") ?? [];
}
