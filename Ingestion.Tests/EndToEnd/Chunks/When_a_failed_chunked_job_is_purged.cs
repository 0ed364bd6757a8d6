using System.Net;
using System.Text;
using Ingestion.Tests.Infrastructure;
using static Ingestion.Tests.EndToEnd.Chunks.ChunkedLoads;

namespace Ingestion.Tests.EndToEnd.Chunks;

/// <summary>
/// A keyed file in chunks fails while its later chunks wait in their stage tables (the first
/// chunk's first row is held by a trigger, then refused), and nobody retries it. The window bounds
/// how many wait: a staged chunk keeps its place until it is applied. While the job
/// exists its stage tables stay (a retry would apply them); once retention purges the job (its
/// times moved back 8 days, retention keeps 7) they are gone, and so is a stage table whose job
/// no longer exists at all.
/// </summary>
public sealed class When_a_failed_chunked_job_is_purged
{
    private const int Rows = 3000;
    private Deployment _deployment = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _deployment = await Deployment.StartAsync(TestRun.Servers, "chunkpurge", new Dictionary<string, string>
    {
        ["Processing__ChunkBytes"] = "4096",
        ["Processing__ChunksInFlightPerJob"] = "4",
        ["Processing__BatchRows"] = "100",
        ["Retention__Period"] = "00:00:02",
    }, workers: 2);

    [OneTimeTearDown]
    public async Task StopAsync() => await _deployment.DisposeAsync();

    [Test]
    public async Task Should_drop_its_stage_tables_with_the_job_and_those_whose_job_is_gone()
    {
        using var acme = _deployment.Client(Keys.Acme);
        await CreateDatasetAsync(acme, "ledger",
            [new { name = "entry", type = "integer", required = true }, new { name = "note", type = "text" }], key: ["entry"]);
        await _deployment.Sandbox.ExecuteAsync("""
            create function tenant_acme.refuse() returns trigger language plpgsql as $$
            begin
                if new.entry = 1 then
                    perform pg_sleep(3);
                    raise exception 'entry % refused by the test', new.entry;
                end if;
                return new;
            end $$;
            create trigger refuse before insert on tenant_acme.ledger for each row execute function tenant_acme.refuse();
            """);
        var csv = new StringBuilder("entry,note\n");
        for (var i = 1; i <= Rows; i++)
        {
            csv.Append(i).Append(",note ").Append(i).Append('\n');
        }

        var jobId = await acme.StartUploadAsync("ledger", Encoding.UTF8.GetBytes(csv.ToString()));
        var failed = await acme.WaitForJobEndAsync(jobId, seconds: 120);
        Assert.That(failed["status"]!.GetValue<string>(), Is.EqualTo("failed"), failed.ToJsonString());

        // Several retention runs pass while the failed job is young: its stages are what a retry applies.
        await Task.Delay(TimeSpan.FromSeconds(5));
        var staged = await StageTablesAsync(jobId);
        Assert.That(staged, Is.GreaterThan(0), "later chunks were staged when the first one failed, and kept for a retry");
        Assert.That(staged, Is.LessThanOrEqualTo(3), "the window (4) bounds what is staged behind a slow first chunk");
        Assert.That(await ChunksAsync(_deployment, jobId), Is.GreaterThan(4), "the file has more chunks than the window");

        var gone = Guid.NewGuid();
        await _deployment.Sandbox.ExecuteAsync($"create table ingestion.upload_stage_{gone:N}_0 (line bigint)");
        await _deployment.Sandbox.ExecuteAsync("""
            update ingestion.jobs set created_at = created_at - interval '8 days', updated_at = updated_at - interval '8 days'
            where job_id = @job
            """, ("job", jobId));

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && (await StageTablesAsync(jobId) > 0 || await StageTablesAsync(gone) > 0))
        {
            await Task.Delay(250);
        }

        using (var response = await acme.GetAsync($"/v1/jobs/{jobId}"))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "retention purged the job");
        }

        Assert.That(await StageTablesAsync(jobId), Is.Zero, "the purged job's stage tables were dropped");
        Assert.That(await StageTablesAsync(gone), Is.Zero, "a stage table whose job is gone was dropped");
    }

    private Task<long> StageTablesAsync(Guid jobId) => _deployment.Sandbox.ScalarAsync<long>("""
        select count(*) from pg_class
        where relnamespace = 'ingestion'::regnamespace and left(relname, 45) = 'upload_stage_' || @job
        """, ("job", jobId.ToString("N")));
}
