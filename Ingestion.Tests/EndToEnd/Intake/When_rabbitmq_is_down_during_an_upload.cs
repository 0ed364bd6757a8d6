using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Intake;

/// <summary>
/// The broker stops (every connection drops) while a client uploads. The upload is still
/// accepted, because its job and command are written to PostgreSQL together; the command
/// is relayed once the broker is back, and the job runs.
/// </summary>
public sealed class When_rabbitmq_is_down_during_an_upload
{
    private Deployment _deployment = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _deployment = await Deployment.StartAsync(TestRun.Servers, "brokerdown");

    [OneTimeTearDown]
    public async Task StopAsync() => await _deployment.DisposeAsync();

    [Test]
    public async Task Should_accept_the_upload_and_run_the_job_once_the_broker_is_back()
    {
        using var acme = _deployment.Client(Keys.Acme);
        var csv = new TestCsv();
        await TestRun.Servers.Broker.StopAsync();
        Guid jobId;
        try
        {
            jobId = await acme.StartUploadAsync("transactions", csv.Transactions(300));

            var job = await acme.GetJsonAsync($"/v1/jobs/{jobId}");
            Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("uploaded"));
            Assert.That(await _deployment.Sandbox.ScalarAsync<long>(
                    "select count(*) from ingestion.outbox where body->>'jobId' = @id", ("id", jobId.ToString())),
                Is.EqualTo(1), "the command waits in the outbox");
        }
        finally
        {
            await TestRun.Servers.Broker.StartAsync();
        }

        var done = await acme.WaitForJobEndAsync(jobId, seconds: 120);

        Assert.That(done["status"]!.GetValue<string>(), Is.EqualTo("completed"), done.ToJsonString());
        Assert.That(done["startedAt"], Is.Not.Null, "it went through processing");
        Assert.That(done["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(300));

        // The job's end wrote its JobCompleted event to the outbox too; the relay drains it within moments.
        var drained = DateTime.UtcNow.AddSeconds(15);
        while (await _deployment.Sandbox.ScalarAsync<long>("select count(*) from ingestion.outbox") > 0 && DateTime.UtcNow < drained)
        {
            await Task.Delay(100);
        }

        Assert.That(await _deployment.Sandbox.ScalarAsync<long>("select count(*) from ingestion.outbox"), Is.Zero, "the outbox drains");
        await TestRun.Shared.Api.WaitUntilReadyAsync();
        foreach (var worker in TestRun.Shared.Workers)
        {
            await worker.WaitUntilReadyAsync();
        }
    }
}
