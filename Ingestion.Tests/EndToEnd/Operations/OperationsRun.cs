using System.Net.Http.Json;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Operations;

/// <summary>
/// A stack of its own for the operator's views: they see across tenants and every
/// <c>_error</c> queue of the virtual host, so other tests' failures must not be in them.
/// </summary>
[SetUpFixture]
public sealed class OperationsRun
{
    public static Deployment Stack { get; private set; } = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => Stack = await Deployment.StartAsync(TestRun.Servers, "ops", TestRun.SharedSettings);

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        if (Stack is not null)
        {
            await Stack.DisposeAsync();
        }
    }

    /// <summary>
    /// A keyless dataset of the tenant whose inserts PostgreSQL refuses for the entries listed in
    /// <c>{name}_refusals</c>, with <paramref name="message"/> (and the entry): a cause the test removes.
    /// </summary>
    public static async Task CreateRefusingDatasetAsync(HttpClient tenant, string tenantId, string name, string message)
    {
        using var created = await tenant.PostAsJsonAsync("/v1/datasets", new
        {
            name,
            columns = new[] { new { name = "entry", type = "integer", required = true } },
        });
        created.EnsureSuccessStatusCode();
        await Stack.Sandbox.ExecuteAsync($"""
            create table tenant_{tenantId}.{name}_refusals (entry integer primary key);
            create function tenant_{tenantId}.{name}_refuse() returns trigger language plpgsql as $$
            begin
                if exists (select 1 from tenant_{tenantId}.{name}_refusals r where r.entry = new.entry) then
                    raise exception '{message} %', new.entry;
                end if;
                return new;
            end $$;
            create trigger refuse before insert on tenant_{tenantId}.{name}
                for each row execute function tenant_{tenantId}.{name}_refuse();
            """);
    }

    /// <summary>Entries <paramref name="first"/> to <paramref name="first"/> + <paramref name="count"/> - 1, one per line.</summary>
    public static byte[] Entries(int first, int count) => System.Text.Encoding.UTF8.GetBytes(
        "entry\n" + string.Concat(Enumerable.Range(first, count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n")));
}
