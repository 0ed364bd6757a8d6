using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Chunks;

/// <summary>
/// Four chunks load at once on two workers, each of many batches, and the first fails the job early on while the others
/// are mid-way through their ranges. The others stop at their checkpoints instead of loading on to their ends, and the
/// failed job says exactly what the table holds: the failure halts the job's chunks (waiting for the batches open) before
/// it reads its counts. A keyed (<c>upsert</c>) file's later chunks stage their rows until their turn: those are not
/// counted as loaded. A retry carries every chunk on from its checkpoint.
/// </summary>
public sealed class When_a_chunk_fails_the_job_while_others_load
{
    private const int Rows = 30_000;
    // The least the reader enforces: it checks the limit when its 1 MiB buffer has to grow.
    private const int MaxRecordBytes = 1 << 20;

    // In the first chunk (64 KiB, about 3,900 lines), some 20 batches in.
    private const int Failing = 2_001;

    // In a later chunk loading beside the first: its batch takes 3 s, so that chunk is still inside its range when the
    // first one fails, however fast the machine.
    private const int Slow = 6_500;
    private Deployment _deployment = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _deployment = await Deployment.StartAsync(TestRun.Servers, "chunkhalt", new Dictionary<string, string>
    {
        ["Processing__ChunkBytes"] = "65536",
        ["Processing__ChunksInFlightPerJob"] = "4",
        ["Processing__BatchRows"] = "100",
        ["Processing__MaxRecordBytes"] = MaxRecordBytes.ToString(CultureInfo.InvariantCulture),
        ["Processing__ChunkUpserts"] = "true",
    }, workers: 2);

    [OneTimeTearDown]
    public async Task StopAsync() => await _deployment.DisposeAsync();

    [Test]
    public async Task Should_stop_the_other_chunks_when_a_record_is_too_long()
    {
        // Only the first chunk meets it: the job's other chunks have nothing to fail on and, unhalted, load to their ends.
        using var acme = _deployment.Client(Keys.Acme);
        var (jobId, failed) = await FailAsync(acme, "too_long", maxRejectedRows: null,
            i => i == Failing ? $"{i},{new string('x', 3 * MaxRecordBytes)}" : null);

        Assert.That(failed["error"]!["code"]!.GetValue<string>(), Is.EqualTo("record_too_long"), failed.ToJsonString());
        await AssertHaltedAsync(jobId, "too_long", failed, stoppedInRange: true);
    }

    [Test]
    public async Task Should_stop_the_other_chunks_at_the_reject_limit_and_carry_them_on_when_retried()
    {
        using var acme = _deployment.Client(Keys.Acme);
        var (jobId, failed) = await FailAsync(acme, "over_limit", maxRejectedRows: 1,
            i => i is Failing or Failing + 1 ? $"not a number,note {i}" : null);

        Assert.That(failed["error"]!["code"]!.GetValue<string>(), Is.EqualTo("reject_limit"), failed.ToJsonString());
        Assert.That(failed["progress"]!["rowsRejected"]!.GetValue<long>(), Is.EqualTo(2));
        await AssertHaltedAsync(jobId, "over_limit", failed, stoppedInRange: true);
        await AssertRetriedAsync(acme, jobId, "over_limit");
    }

    [Test]
    public async Task Should_not_count_the_rows_later_chunks_staged_as_loaded()
    {
        // Upsert: the last line of a key wins, so chunks ahead of their turn keep their rows in their stage tables.
        using var acme = _deployment.Client(Keys.Acme);
        var (jobId, failed) = await FailAsync(acme, "staged", maxRejectedRows: 1,
            i => i is Failing or Failing + 1 ? $"not a number,note {i}" : null, key: ["entry"], onKeyConflict: "upsert");

        Assert.That(failed["error"]!["code"]!.GetValue<string>(), Is.EqualTo("reject_limit"), failed.ToJsonString());
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>(
                "select count(*) from pg_tables where schemaname = 'ingestion' and tablename like @stage",
                ("stage", $"upload_stage_{jobId:N}_%")), Is.GreaterThan(0), "later chunks staged rows, kept for the retry");
        await AssertHaltedAsync(jobId, "staged", failed, stoppedInRange: false);
        await AssertRetriedAsync(acme, jobId, "staged");
    }

    /// <summary>A retry with a higher limit loads every good row once and counts the two bad ones once.</summary>
    private async Task AssertRetriedAsync(HttpClient acme, Guid jobId, string dataset)
    {
        using (var retry = await acme.PostAsJsonAsync($"/v1/jobs/{jobId}/retry", new { maxRejectedRows = 10 }))
        {
            Assert.That(retry.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await retry.Content.ReadAsStringAsync());
        }

        // Still failed until the retry reaches the job's state machine: only its end is waited for.
        var job = await acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(120), "completed");
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(Rows - 2));
        Assert.That(job["progress"]!["rowsRejected"]!.GetValue<long>(), Is.EqualTo(2));
        Assert.That(await CountAsync(dataset), Is.EqualTo(Rows - 2));
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>($"select count(distinct entry) from tenant_acme.{dataset}"),
            Is.EqualTo(Rows - 2), "every good row once");
    }

    /// <summary>Loads <see cref="Rows"/> lines into a new dataset, <paramref name="replace"/> giving the lines that differ, and waits for the job to fail.</summary>
    private async Task<(Guid JobId, JsonNode Failed)> FailAsync(HttpClient acme, string dataset, int? maxRejectedRows,
        Func<int, string?> replace, string[]? key = null, string? onKeyConflict = null)
    {
        using (var created = await acme.PostAsJsonAsync("/v1/datasets", new
        {
            name = dataset,
            columns = new object[] { new { name = "entry", type = "integer", required = true }, new { name = "note", type = "text" } },
            maxRejectedRows,
            key,
            onKeyConflict,
        }))
        {
            Assert.That(created.IsSuccessStatusCode, Is.True, await created.Content.ReadAsStringAsync());
        }

        await _deployment.Sandbox.ExecuteAsync($"""
            create function tenant_acme.slow_{dataset}() returns trigger language plpgsql as $$
            begin
                perform pg_sleep(3);
                return new;
            end $$;
            create trigger slow before insert on tenant_acme.{dataset} for each row when (new.entry = {Slow})
                execute function tenant_acme.slow_{dataset}();
            """);
        var csv = new StringBuilder("entry,note\n");
        for (var i = 1; i <= Rows; i++)
        {
            csv.Append(replace(i) ?? $"{i},note {i}").Append('\n');
        }

        var jobId = await acme.StartUploadAsync(dataset, Encoding.UTF8.GetBytes(csv.ToString()));
        var failed = await acme.WaitForJobEndAsync(jobId, seconds: 120);
        Assert.That(failed["status"]!.GetValue<string>(), Is.EqualTo("failed"), failed.ToJsonString());
        return (jobId, failed);
    }

    /// <param name="stoppedInRange">Whether a later chunk must have been caught inside its range (the keyless files, whose chunk with
    /// <see cref="Slow"/> is); a staging chunk may have staged its whole range by then.</param>
    private async Task AssertHaltedAsync(Guid jobId, string dataset, JsonNode failed, bool stoppedInRange)
    {
        var inTable = await CountAsync(dataset);
        Assert.That(failed["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(inTable), "the failed job says what the table holds");
        if (stoppedInRange)
        {
            var stopped = await _deployment.Sandbox.ScalarAsync<long>("""
                select count(*) from ingestion.upload_chunks
                where job_id = @id and chunk > 0 and state = 'sent' and byte_offset > start_offset and byte_offset < end_offset
                """, ("id", jobId));
            Assert.That(stopped, Is.GreaterThan(0), "chunks loading beside the failed one stopped at a checkpoint inside their range");
        }

        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.That(await CountAsync(dataset), Is.EqualTo(inTable), "no chunk loaded on after the job failed");
    }

    private Task<long> CountAsync(string dataset) => _deployment.Sandbox.ScalarAsync<long>($"select count(*) from tenant_acme.{dataset}");
}
