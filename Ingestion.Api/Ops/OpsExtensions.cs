using System.Net.Http.Headers;
using System.Text;
using Ingestion.Platform.Messaging;
using Ingestion.Platform.Outbox;
using Microsoft.Extensions.Options;

namespace Ingestion.Api.Ops;

public static class OpsExtensions
{
    /// <summary>Failure groups in PostgreSQL; the broker's <c>_error</c> queues over AMQP, listed through the management API.</summary>
    public static IHostApplicationBuilder AddIngestionOps(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<FailureGroups>();
        builder.Services.AddSingleton<DeadLetterQueues>();
        builder.Services.AddSingleton<PoisonedMessages>();
        builder.Services.AddHttpClient(DeadLetterQueues.ManagementClient, (services, client) =>
        {
            var rabbit = services.GetRequiredService<IOptions<RabbitMqOptions>>().Value;
            client.BaseAddress = new Uri($"http://{rabbit.Host}:{rabbit.ManagementPort}/api/");
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes($"{rabbit.Username}:{rabbit.Password}")));
        });
        return builder;
    }
}
