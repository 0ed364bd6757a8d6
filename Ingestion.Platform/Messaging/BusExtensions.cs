using Ingestion.Platform.Hosting;
using Ingestion.Platform.Outbox;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Ingestion.Platform.Messaging;

public static class BusExtensions
{
    /// <summary>
    /// MassTransit on RabbitMQ with the host's consumers and sagas, plus the outbox relay.
    /// The bus starts in the background: a host whose broker is down still starts and
    /// serves, and what it must send waits in the outbox.
    /// </summary>
    public static IHostApplicationBuilder AddIngestionBus(
        this IHostApplicationBuilder builder,
        Action<IBusRegistrationConfigurator> configure,
        Action<IBusRegistrationContext, IRabbitMqBusFactoryConfigurator>? configureBus = null)
    {
        builder.Services.AddValidatedOptions<RabbitMqOptions>(RabbitMqOptions.Section);

        builder.Services.AddMassTransit(bus =>
        {
            // MassTransit 8.4+ reports how it is configured to usage-tracking.masstransit.io by default: nothing of this
            // service leaves its network (and a host without a route out logged a failed DNS lookup at every start).
            bus.DisableUsageTelemetry();
            bus.SetKebabCaseEndpointNameFormatter();
            configure(bus);

            // Quorum queues replicate across a cluster's nodes; MassTransit copies the queue's
            // arguments to its _error and _skipped queues. Temporary queues (auto-delete) stay classic.
            bus.AddConfigureEndpointsCallback((context, queue, endpoint) =>
            {
                if (endpoint is IRabbitMqReceiveEndpointConfigurator rabbit && Queues.Durable.Contains(queue)
                    && context.GetRequiredService<IOptions<RabbitMqOptions>>().Value.Quorum)
                {
                    rabbit.SetQuorumQueue();
                }
            });
            bus.UsingRabbitMq((context, rabbit) =>
            {
                var options = context.GetRequiredService<IOptions<RabbitMqOptions>>().Value;
                rabbit.Host(options.Host, (ushort)options.Port, options.VirtualHost, host =>
                {
                    host.Username(options.Username);
                    host.Password(options.Password);
                    if (options.Nodes.Length > 0)
                    {
                        host.UseCluster(cluster =>
                        {
                            foreach (var node in options.Nodes)
                            {
                                cluster.Node(node);
                            }
                        });
                    }
                });

                // A command sent to an exchange that no queue is bound to yet comes back as an
                // error instead of vanishing (see Queues.Address); the sender retries it.
                rabbit.ConfigureSend(send => send.UseSendExecute(sent =>
                {
                    if (sent is RabbitMqSendContext rabbitSend)
                    {
                        rabbitSend.Mandatory = true;
                    }
                }));
                rabbit.UseConsumeFilter(typeof(JobLogScopeFilter<>), context);
                configureBus?.Invoke(context, rabbit);
                rabbit.ConfigureEndpoints(context);
            });
        });
        builder.Services.AddHostedService<OutboxRelay>();
        return builder;
    }
}
