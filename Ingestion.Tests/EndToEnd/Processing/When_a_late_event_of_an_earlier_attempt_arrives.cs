using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Ingestion.Contracts.Uploads;
using Ingestion.Tests.EndToEnd.Progress;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Processing;

/// <summary>
/// A job fails (attempt 1) and is retried; while attempt 2 runs, an <c>UploadFailed</c> of
/// attempt 1 arrives late on the bus (a redelivery, a message stuck behind a broker outage).
/// It must change nothing: no failure, no "failed" callback before the real "completed" one.
/// </summary>
public sealed class When_a_late_event_of_an_earlier_attempt_arrives
{
    private const int Rows = 6000;
    private Deployment _deployment = null!;
    private WebhookReceiver _receiver = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _receiver = new WebhookReceiver();
        _deployment = await Deployment.StartAsync(TestRun.Servers, "attempts", new Dictionary<string, string>
        {
            ["Processing__BatchRows"] = "500",
            ["Webhooks__AllowedHosts__0"] = "localhost",
        });
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _deployment.DisposeAsync();
        _receiver.Dispose();
    }

    [Test]
    public async Task Should_change_nothing_and_send_no_failed_callback()
    {
        using var acme = _deployment.Client(Keys.Acme);
        await RefusingDataset.CreateAsync(acme, _deployment.Sandbox, "acme", "entries", "refused by the test: entry", keyed: true);
        await _deployment.Sandbox.ExecuteAsync("""
            create table tenant_acme.gate (closed boolean);
            create function tenant_acme.gate() returns trigger language plpgsql as $$
            begin
                while exists (select 1 from tenant_acme.gate) loop
                    perform pg_sleep(0.05);
                end loop;
                return null;
            end $$;
            create trigger gate after insert on tenant_acme.entries for each statement execute function tenant_acme.gate();
            insert into tenant_acme.entries_refusals values (1);
            """);

        using var form = new MultipartFormDataContent
        {
            { new StringContent(_receiver.Url("job")), "callbackUrl" },
            { new ByteArrayContent(SlowDataset.Rows(Rows, 1)) { Headers = { ContentType = new MediaTypeHeaderValue("text/csv") } }, "file", "entries.csv" },
        };
        using var created = await acme.PostAsync("/v1/datasets/entries/uploads", form);
        var body = await created.Content.ReadAsStringAsync();
        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), body);
        var jobId = JsonNode.Parse(body)!["jobId"]!.GetValue<Guid>();
        var failed = await acme.WaitForJobEndAsync(jobId);
        Assert.That(failed["status"]!.GetValue<string>(), Is.EqualTo("failed"), failed.ToJsonString());
        await _receiver.WaitForAsync("job", 1, TimeSpan.FromSeconds(30));

        // Attempt 2 is held at its first batch while the late event arrives, so it cannot finish first.
        await _deployment.Sandbox.ExecuteAsync("delete from tenant_acme.entries_refusals; insert into tenant_acme.gate values (true)");
        using var retry = await acme.PostAsync($"/v1/jobs/{jobId}/retry", null);
        Assert.That(retry.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        await acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(30), "processing");
        var version = await VersionAsync(jobId);
        await using (var bus = await BusClient.ConnectAsync(_deployment.Sandbox))
        {
            await bus.Bus.Publish(new UploadFailed(jobId, "late", "a late failure of attempt 1", 0, 0, 0, null,
                DateTimeOffset.UtcNow, Attempt: 1));
        }

        // Every message the job's state machine takes moves its version, even one that changes nothing else.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await VersionAsync(jobId) == version && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        var meanwhile = await acme.GetJsonAsync($"/v1/jobs/{jobId}");
        Assert.That(meanwhile["status"]!.GetValue<string>(), Is.EqualTo("processing"), meanwhile.ToJsonString());
        Assert.That(meanwhile["error"], Is.Null);
        await _deployment.Sandbox.ExecuteAsync("delete from tenant_acme.gate");

        var done = await acme.WaitForJobEndAsync(jobId, seconds: 90);
        Assert.That(done["status"]!.GetValue<string>(), Is.EqualTo("completed"), done.ToJsonString());
        Assert.That(done["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(Rows));
        await _receiver.WaitForAsync("job", 2, TimeSpan.FromSeconds(30));
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.That(_receiver.Received("job").Select(r => JsonNode.Parse(r.Body)!["status"]!.GetValue<string>()),
            Is.EqualTo(new[] { "failed", "completed" }), "one callback per end of the job: attempt 1 failed, attempt 2 completed");
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>(
            "select count(*) from ingestion.job_events where job_id = @id and type = 'transition' and to_state = 'Failed'", ("id", jobId)),
            Is.EqualTo(1), "the job failed once, in attempt 1");
    }

    private async Task<int> VersionAsync(Guid jobId) =>
        await _deployment.Sandbox.ScalarAsync<int>("select version from ingestion.jobs where job_id = @id", ("id", jobId));
}
