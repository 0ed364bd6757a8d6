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

    /// <summary>A keyless <see cref="RefusingDataset"/> of the operations run's stack.</summary>
    public static Task CreateRefusingDatasetAsync(HttpClient tenant, string tenantId, string name, string message) =>
        RefusingDataset.CreateAsync(tenant, Stack.Sandbox, tenantId, name, message);

    /// <summary>Entries <paramref name="first"/> to <paramref name="first"/> + <paramref name="count"/> - 1, one per line.</summary>
    public static byte[] Entries(int first, int count) => System.Text.Encoding.UTF8.GetBytes(
        "entry\n" + string.Concat(Enumerable.Range(first, count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n")));
}
