using System.Net.Http.Json;
using Ingestion.Tests.EndToEnd.Progress;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Processing;

/// <summary>
/// A worker's connection to RabbitMQ is cut (through a relay) while its PostgreSQL session,
/// and so the job's lock, lives on: its batch is held at a gate (a trigger that waits, deaf to
/// cancel requests, as a long statement would be). RabbitMQ gives the job's only message to
/// another worker, which finds the job locked: a redelivery, whose holder may have died with it, so it is
/// sent again 5 s later, and that copy finds the job still locked and steps aside, acknowledging it; then
/// the holder dies before it can hand the job on. No message is left anywhere: only the reaper can see that
/// the job is not moving and that nobody holds it, and send its work again.
/// </summary>
public sealed class When_a_worker_loses_the_broker_mid_job
{
    private const int Rows = 40_000;
    private Deployment _deployment = null!;
    private TcpProxy _rabbit = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _rabbit = new TcpProxy(TestRun.Servers.RabbitHost, TestRun.Servers.RabbitPort);
        _deployment = await Deployment.StartAsync(TestRun.Servers, "reaper", new Dictionary<string, string>
        {
            ["Processing__BatchRows"] = "500",
            ["Processing__SliceDuration"] = "00:05:00",
            ["Reaper__Period"] = "00:00:01",
            ["Reaper__StaleAfter"] = "00:00:05",
        }, workers: 0);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _deployment.DisposeAsync();
        await _rabbit.DisposeAsync();
    }

    [Test]
    public async Task Should_send_the_stranded_job_again_and_complete_it()
    {
        using var acme = _deployment.Client(Keys.Acme);
        (await acme.PostAsJsonAsync("/v1/datasets", new
        {
            name = "entries",
            columns = new[] { new { name = "entry", type = "integer", required = true } },
        })).EnsureSuccessStatusCode();
        await _deployment.Sandbox.ExecuteAsync("""
            create table tenant_acme.gate (closed boolean);
            create function tenant_acme.gate() returns trigger language plpgsql as $$
            begin
                while exists (select 1 from tenant_acme.gate) loop
                    begin
                        perform pg_sleep(0.1);
                    exception when query_canceled then
                        null;
                    end;
                end loop;
                return null;
            end $$;
            create trigger gate after insert on tenant_acme.entries for each statement execute function tenant_acme.gate();
            """);

        var holder = await _deployment.StartWorkerAsync(new Dictionary<string, string>
        {
            ["RabbitMq__Port"] = _rabbit.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        var jobId = await acme.StartUploadAsync("entries", SlowDataset.Rows(Rows, 1));
        await acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(60), "processing");
        await _deployment.Sandbox.ExecuteAsync("insert into tenant_acme.gate values (true)");
        await WaitUntilAsync(async () => await _deployment.Sandbox.ScalarAsync<long>(
            "select count(*) from pg_stat_activity where datname = current_database() and wait_event = 'PgSleep'") > 0);
        var other = await _deployment.StartWorkerAsync();

        _rabbit.Cut();
        await WaitUntilAsync(() => Task.FromResult(other.Log().Contains($"Another worker is processing job {jobId}", StringComparison.Ordinal)));
        Assert.That(other.Log(), Does.Contain($"Job {jobId} (unit 0) is locked, and this message is redelivered"),
            "the redelivery was sent again before its copy stepped aside");
        holder.Kill();
        await _deployment.Sandbox.ExecuteAsync("delete from tenant_acme.gate");

        var done = await acme.WaitForJobEndAsync(jobId, seconds: 120);
        Assert.That(done["status"]!.GetValue<string>(), Is.EqualTo("completed"), done.ToJsonString());
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>("select count(*) from tenant_acme.entries"), Is.EqualTo(Rows));
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>("select count(distinct entry) from tenant_acme.entries"), Is.EqualTo(Rows));
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>(
            "select count(*) from ingestion.job_events where job_id = @id and actor = 'reaper'", ("id", jobId)), Is.GreaterThanOrEqualTo(1),
            "the reaper's resend is in the job's audit trail");

        // What the ops console shows: the reaper's re-drive, and the job as it stands now.
        using var ops = _deployment.Client(Keys.Ops);
        var reaped = (await ops.GetJsonAsync("/v1/ops/stalled"))["reaped"]!.AsArray();
        var redrive = reaped.FirstOrDefault(r => r!["jobId"]!.GetValue<Guid>() == jobId);
        Assert.That(redrive, Is.Not.Null, reaped.ToJsonString());
        Assert.That(redrive!["status"]!.GetValue<string>(), Is.EqualTo("completed"));
        Assert.That(redrive["tenantId"]!.GetValue<string>(), Is.EqualTo("acme"));
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "the setup did not reach the moment it waits for");
            await Task.Delay(50);
        }
    }
}
