import type { Topics } from './topics.js';

export interface DiscoveryMessage {
  topic: string;
  payload: Record<string, unknown>;
}

/**
 * Home Assistant MQTT discovery (retained, on every connect): the box's connectivity, days held,
 * days forecast, free disk, temperature, and each camera's state and view (tamper detection),
 * all read from the box's own retained topics with value templates.
 */
export function discoveryMessages(prefix: string, topics: Topics, box: string, version: string, cameras: string[]): DiscoveryMessage[] {
  const node = `edge-nvr_${box}`;
  const device = { identifiers: [node], name: `edge-nvr ${box}`, manufacturer: 'edge-nvr', model: 'network video recorder', sw_version: version };
  const availability = { availability_topic: topics.status, availability_template: '{{ value_json.state }}', payload_available: 'online', payload_not_available: 'offline' };
  const sensor = (id: string, p: Record<string, unknown>): DiscoveryMessage => ({
    topic: `${prefix}/sensor/${node}/${id}/config`,
    payload: { unique_id: `${node}_${id}`, object_id: `${node}_${id}`, device, ...availability, ...p },
  });
  return [
    {
      topic: `${prefix}/binary_sensor/${node}/online/config`,
      payload: {
        unique_id: `${node}_online`, object_id: `${node}_online`, name: 'Online', device, device_class: 'connectivity',
        state_topic: topics.status, value_template: "{{ 'ON' if value_json.state == 'online' else 'OFF' }}",
      },
    },
    sensor('days_held', { name: 'Days held', state_topic: topics.health, unit_of_measurement: 'd', value_template: '{{ value_json.retention.days_held | round(1) }}' }),
    sensor('forecast_days', { name: 'Days forecast', state_topic: topics.health, unit_of_measurement: 'd', value_template: '{{ value_json.retention.forecast_days | round(1) if value_json.retention.forecast_days is not none else none }}' }),
    sensor('disk_available', { name: 'Disk available', state_topic: topics.health, unit_of_measurement: 'GB', device_class: 'data_size', value_template: '{{ (value_json.disks[0].available_bytes / 1000000000) | round(1) }}' }),
    sensor('temperature', { name: 'Temperature', state_topic: topics.health, unit_of_measurement: '°C', device_class: 'temperature', value_template: '{{ value_json.temperature_c }}' }),
    ...cameras.map((c) => sensor(`camera_${c}`, { name: `Camera ${c}`, state_topic: topics.cameraState(c), value_template: '{{ value_json.state }}', icon: 'mdi:cctv' })),
    ...cameras.map((c) => sensor(`view_${c}`, {
      name: `Camera ${c} view`, state_topic: topics.cameraState(c), icon: 'mdi:cctv-off',
      value_template: "{{ value_json.view.state ~ (': ' ~ value_json.view.kinds | join(', ') if value_json.view.kinds else '') }}",
    })),
  ];
}
