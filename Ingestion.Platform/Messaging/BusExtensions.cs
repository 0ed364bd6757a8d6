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
            bus.SetKebabCaseEndpointNameFormatter();
            configure(bus);
            bus.UsingRabbitMq((context, rabbit) =>
            {
                var options = context.GetRequiredService<IOptions<RabbitMqOptions>>().Value;
                rabbit.Host(options.Host, (ushort)options.Port, options.VirtualHost, host =>
                {
                    host.Username(options.Username);
                    host.Password(options.Password);
                });
                rabbit.UseConsumeFilter(typeof(JobLogScopeFilter<>), context);
                configureBus?.Invoke(context, rabbit);
                rabbit.ConfigureEndpoints(context);
            });
        });
        builder.Services.AddHostedService<OutboxRelay>();
        return builder;
    }
}
