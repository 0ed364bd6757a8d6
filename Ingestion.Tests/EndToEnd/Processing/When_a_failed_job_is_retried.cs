using System.Net;
using System.Net.Http.Json;
using System.Text;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Processing;

/// <summary>
/// PostgreSQL refuses a batch in the middle of a file (a trigger raises), the job fails
/// with that cause and keeps its object; once the cause is gone, a retry resumes at the
/// checkpoint without a new upload, and the table ends up exact.
/// </summary>
public sealed class When_a_failed_job_is_retried
{
    private const int Rows = 6000;
    private HttpClient _acme = null!;
    private HttpClient _globex = null!;
    private readonly string _dataset = "ledger_" + Guid.NewGuid().ToString("N")[..8];

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _acme = TestRun.Shared.Client(Keys.Acme);
        _globex = TestRun.Shared.Client(Keys.Globex);
        (await _acme.PostAsJsonAsync("/v1/datasets", new
        {
            name = _dataset,
            columns = new[] { new { name = "entry", type = "integer", required = true }, new { name = "note", type = "text", required = false } },
        })).EnsureSuccessStatusCode();
        await TestRun.Shared.Sandbox.ExecuteAsync($"""
            create table tenant_acme.{_dataset}_refusals (entry integer primary key);
            create function tenant_acme.{_dataset}_refuse() returns trigger language plpgsql as $$
            begin
                if exists (select 1 from tenant_acme.{_dataset}_refusals r where r.entry = new.entry) then
                    raise exception 'entry % refused by the test', new.entry;
                end if;
                return new;
            end $$;
            create trigger refuse before insert on tenant_acme.{_dataset}
                for each row execute function tenant_acme.{_dataset}_refuse();
            insert into tenant_acme.{_dataset}_refusals values (4321);
            """);
    }

    [OneTimeTearDown]
    public void Disconnect()
    {
        _acme.Dispose();
        _globex.Dispose();
    }

    [Test]
    public async Task Should_fail_with_the_cause_then_resume_from_the_checkpoint_on_retry()
    {
        var csv = new StringBuilder("entry,note\n");
        for (var i = 1; i <= Rows; i++)
        {
            csv.Append(i).Append(",note ").Append(i).Append('\n');
        }

        var jobId = await _acme.StartUploadAsync(_dataset, Encoding.UTF8.GetBytes(csv.ToString()));
        var failed = await _acme.WaitForJobEndAsync(jobId);

        Assert.That(failed["status"]!.GetValue<string>(), Is.EqualTo("failed"), failed.ToJsonString());
        Assert.That(failed["error"]!["code"]!.GetValue<string>(), Is.EqualTo("Npgsql.PostgresException"));
        Assert.That(failed["error"]!["message"]!.GetValue<string>(), Does.Contain("entry 4321 refused by the test"));
        Assert.That(failed["links"]!["retry"]!.GetValue<string>(), Is.EqualTo($"/v1/jobs/{jobId}/retry"));
        var before = await CountAsync();
        Assert.That(before, Is.GreaterThan(0).And.LessThan(4321), "the batches before the refused one are committed");
        Assert.That(await TestRun.Shared.Sandbox.ObjectKeysAsync($"uploads/acme/{jobId:N}"), Has.Count.EqualTo(1),
            "the failed job keeps its object");

        using var foreign = await _globex.PostAsync($"/v1/jobs/{jobId}/retry", null);
        Assert.That(foreign.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "another tenant cannot retry it");

        await TestRun.Shared.Sandbox.ExecuteAsync($"delete from tenant_acme.{_dataset}_refusals");
        using var retry = await _acme.PostAsync($"/v1/jobs/{jobId}/retry", null);
        Assert.That(retry.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        var done = await _acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(60), "completed");

        Assert.That(done["error"], Is.Null);
        Assert.That(await CountAsync(), Is.EqualTo(Rows));
        Assert.That(await TestRun.Shared.Sandbox.ScalarAsync<long>($"select count(distinct entry) from tenant_acme.{_dataset}"), Is.EqualTo(Rows));
        Assert.That(done["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(Rows));
        Assert.That(await TestRun.Shared.Sandbox.ObjectKeysAsync($"uploads/acme/{jobId:N}"), Is.Empty, "completed: the object is gone");

        using var again = await _acme.PostAsync($"/v1/jobs/{jobId}/retry", null);
        Assert.That(again.StatusCode, Is.EqualTo(HttpStatusCode.Conflict), "only a failed job can be retried");
    }

    private Task<long> CountAsync() =>
        TestRun.Shared.Sandbox.ScalarAsync<long>($"select count(*) from tenant_acme.{_dataset}");
}
