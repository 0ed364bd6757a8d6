using System.Net;
using System.Net.Http.Json;
using Ingestion.Tests.EndToEnd.Progress;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Processing;

/// <summary>
/// A failed job is retried, and the worker whose saga takes the retry is killed the moment
/// its transaction commits (a crash point), before anything it sends can leave. The job is
/// now <c>uploaded</c> and its <c>RetryJob</c> is redelivered, which an uploaded job ignores:
/// only a <c>ProcessUpload</c> written with the job can carry it on.
/// </summary>
public sealed class When_a_worker_dies_after_the_saga_commits
{
    private const int Rows = 3000;
    private Deployment _deployment = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        // No reaper within the test's time: the command must come from the saga's own transaction.
        _deployment = await Deployment.StartAsync(TestRun.Servers, "sagacrash", new Dictionary<string, string>
        {
            ["Processing__BatchRows"] = "500",
            ["Reaper__StaleAfter"] = "01:00:00",
        }, workers: 0);
        await _deployment.StartWorkerAsync(new Dictionary<string, string> { ["FaultInjection__KillAfterSagaCommitOf"] = "RetryJob" });
    }

    [OneTimeTearDown]
    public async Task StopAsync() => await _deployment.DisposeAsync();

    [Test]
    public async Task Should_still_process_the_retried_job_from_the_command_committed_with_it()
    {
        using var acme = _deployment.Client(Keys.Acme);
        await RefusingDataset.CreateAsync(acme, _deployment.Sandbox, "acme", "entries", "refused by the test: entry");
        await _deployment.Sandbox.ExecuteAsync("insert into tenant_acme.entries_refusals values (1200)");

        var jobId = await acme.StartUploadAsync("entries", SlowDataset.Rows(Rows, 1));
        var failed = await acme.WaitForJobEndAsync(jobId);
        Assert.That(failed["status"]!.GetValue<string>(), Is.EqualTo("failed"), failed.ToJsonString());

        await _deployment.Sandbox.ExecuteAsync("delete from tenant_acme.entries_refusals");
        using var retry = await acme.PostAsync($"/v1/jobs/{jobId}/retry", null);
        Assert.That(retry.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        var crashed = _deployment.Workers[0];
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!crashed.HasExited && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.That(crashed.HasExited, Is.True, "the worker died at the crash point, right after the retry's commit");
        await _deployment.StartWorkerAsync();

        var done = await acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(45), "completed");
        Assert.That(done["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(Rows));
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>("select count(distinct entry) from tenant_acme.entries"), Is.EqualTo(Rows));
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>("select count(*) from tenant_acme.entries"), Is.EqualTo(Rows));
    }
}
